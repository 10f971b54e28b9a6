/**
 * Deterministic tiny random Nemotron-H checkpoints of the exact architecture (`tandem make-tiny`): a complete HF
 * directory (config.json, model.safetensors, tokenizer.json, tokenizer_config.json, generation_config.json) and the
 * same weights as DIR/model.gguf for llama.cpp. Dimensions exercise every index rule (spec nemotron-h.md §6.6):
 * heads per B/C group ≥ 2, nq·dh ≠ H, nkv < nq, MoE with a non-zero selection bias and scale 2.5.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import { parseModelConfig, type ModelConfig } from '../formats/config.js';
import { ggufMetadataFromConfig } from '../formats/gguf-config.js';
import { writeGguf } from '../formats/gguf.js';
import { ggufTokenizerKvs } from '../text/gguf-kv.js';
import { hfToGgufTensors } from '../formats/hf-to-gguf.js';
import type { RawTensor } from '../formats/raw-tensor.js';
import { writeSafetensors } from '../formats/safetensors.js';
import { modelSpecs, type TensorSpec } from '../formats/tensor-names.js';
import { fromFloat32 } from '../numerics/dtypes/index.js';
import type { DType } from '../numerics/tensor.js';
import { tokenizerToGgufMeta } from '../text/tokenizer.js';
import { makeTinyTokenizer } from '../text/tiny-tokenizer.js';
import { Rng } from './rng.js';

export interface TinyOptions {
  readonly pattern?: string; // default "M*-M" (dense) or "ME*EME" (MoE)
  readonly moe?: boolean;
  readonly seed?: number;
  readonly dtype?: 'f32' | 'f16' | 'bf16'; // storage of matrices; vectors stay f32 (as llama.cpp's converter does)
  readonly maxPositions?: number;
  /** LatentMoE (Nemotron 3 Super style): experts work in an ℓ-wide latent space. */
  readonly latentSize?: number;
  /** Scale of the LM head init (default 3: peaked distributions; 1 gives flatter, less chaotic ones). */
  readonly headScale?: number;
  /** config.json keys to override (e.g. a wider hidden_size for 256-element K-quant blocks). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

export const TINY_DENSE_PATTERN = 'M*-M';
export const TINY_MOE_PATTERN = 'ME*EME';
/** Every file `makeTiny` writes into its directory. */
export const TINY_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors', 'model.gguf'] as const;

/** The config.json object of a tiny model. */
export function tinyConfigJson(pattern: string, vocabSize: number, maxPositions: number, latentSize?: number): Record<string, unknown> {
  const moe = pattern.includes('E');
  if (moe && pattern.includes('-')) {
    throw new TandemError('BAD_ARGUMENT', `pattern "${pattern}" mixes dense MLP (-) and MoE (E) layers, which no Nemotron model (nor llama.cpp) supports; use one of them`);
  }
  const json: Record<string, unknown> = {
    architectures: ['NemotronHForCausalLM'], model_type: 'nemotron_h', torch_dtype: 'float32',
    vocab_size: vocabSize, hidden_size: 96, num_hidden_layers: pattern.length, hybrid_override_pattern: pattern,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, attention_bias: false,
    mamba_num_heads: 8, mamba_head_dim: 16, ssm_state_size: 16, n_groups: 2, conv_kernel: 4, chunk_size: 16,
    use_conv_bias: true, use_bias: false, mamba_hidden_act: 'silu', mlp_hidden_act: 'relu2', mlp_bias: false,
    layer_norm_epsilon: 1e-5, residual_in_fp32: false, tie_word_embeddings: false, max_position_embeddings: maxPositions,
    bos_token_id: 1, eos_token_id: 2, pad_token_id: 0,
  };
  if (moe) {
    Object.assign(json, {
      n_routed_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 64, moe_shared_expert_intermediate_size: 96,
      n_shared_experts: 1, norm_topk_prob: true, routed_scaling_factor: 2.5, n_group: 1, topk_group: 1,
    });
    if (latentSize !== undefined) json.moe_latent_size = latentSize;
  } else {
    json.intermediate_size = 160;
  }
  return json;
}

/** Random values for one tensor, by its role in the model (scales keep activations O(1) and Δ ≫ 1e-3). */
function initValues(slot: string, spec: TensorSpec, rng: Rng, headScale: number): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  const fill = (f: () => number): Float32Array => {
    for (let i = 0; i < n; i++) v[i] = f();
    return v;
  };
  const cols = spec.shape[spec.shape.length - 1]!;
  if (slot === 'norm' || slot === 'normF' || slot === 'gateNorm') return fill(() => 1 + 0.1 * rng.normal());
  if (slot === 'convW') return fill(() => 0.4 * rng.normal());
  if (slot === 'convB') return fill(() => 0.1 * rng.normal());
  if (slot === 'dtBias') return fill(() => rng.uniform(-3, -0.5));
  if (slot === 'A') return fill(() => Math.log(rng.uniform(1, 16)));
  if (slot === 'D') return fill(() => rng.uniform(0.5, 1.5));
  if (slot === 'routerBias') return fill(() => rng.uniform(-0.05, 0.05));
  if (slot === 'embed') return fill(() => 0.5 * rng.normal());
  const scale = (slot === 'lmHead' ? headScale : 1) / Math.sqrt(cols);
  return fill(() => scale * rng.normal());
}

/** Generate the weights of `cfg` as HF-named tensors, in table order. */
export function tinyTensors(cfg: ModelConfig, seed: number, dtype: DType, headScale = 3): RawTensor[] {
  const rng = new Rng(seed);
  const specs = modelSpecs(cfg, 'hf');
  const entries: Array<[string, TensorSpec]> = [['embed', specs.embed]];
  specs.layers.forEach((l) => entries.push(...Object.entries(l)));
  entries.push(['normF', specs.normF]);
  if (specs.lmHead) entries.push(['lmHead', specs.lmHead]);
  return entries.map(([slot, spec]) => {
    const values = initValues(slot, spec, rng, headScale);
    const dt: DType = spec.role === 'matrix' ? dtype : 'f32';
    return { name: spec.name, dtype: dt, shape: spec.shape, data: fromFloat32(dt, values) };
  });
}

const writeJson = (path: string, v: unknown): void => writeFileSync(path, JSON.stringify(v, null, 2) + '\n');

/** Write the tiny model into `dir`; returns its config. */
export function makeTiny(dir: string, opts: TinyOptions = {}): ModelConfig {
  const pattern = opts.pattern ?? (opts.moe ? TINY_MOE_PATTERN : TINY_DENSE_PATTERN);
  if (!/^[M*\-E]+$/.test(pattern)) throw new TandemError('BAD_ARGUMENT', `--pattern "${pattern}" may only contain M, *, - and E`);
  if (opts.moe && !pattern.includes('E')) throw new TandemError('BAD_ARGUMENT', `--moe needs at least one E layer in --pattern (got "${pattern}")`);
  const seed = opts.seed ?? 0;
  const { tokenizerJson, tokenizerConfig } = makeTinyTokenizer();
  const tokMeta = tokenizerToGgufMeta(tokenizerJson, tokenizerConfig);
  const configJson = { ...tinyConfigJson(pattern, tokMeta.tokens.length, opts.maxPositions ?? 2048, opts.latentSize), ...opts.overrides };
  const cfg = parseModelConfig(configJson);
  const tensors = tinyTensors(cfg, seed, opts.dtype ?? 'f32', opts.headScale);
  mkdirSync(dir, { recursive: true });
  writeJson(join(dir, 'config.json'), configJson);
  writeJson(join(dir, 'generation_config.json'), { bos_token_id: 1, eos_token_id: [2, 4], pad_token_id: 0 });
  writeJson(join(dir, 'tokenizer.json'), tokenizerJson);
  writeJson(join(dir, 'tokenizer_config.json'), tokenizerConfig);
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt', generator: `tandem make-tiny seed=${seed}` });
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const meta = [...ggufMetadataFromConfig(cfg, `tandem-tiny-${pattern}-s${seed}`, opts.dtype ?? 'f32'), ...ggufTokenizerKvs(tokMeta)];
  writeGguf(join(dir, 'model.gguf'), meta, hfToGgufTensors(cfg, byName));
  return cfg;
}
