/**
 * GGUF metadata (llama.cpp `nemotron_h` / `nemotron_h_moe`, spec nemotron-h.md §6.2–6.3) ↔ ModelConfig.
 *
 * llama.cpp stores no pattern string: per layer, recurrent iff head_count_kv[i] = 0 and feed_forward_length[i] = 0,
 * attention iff feed_forward_length[i] = 0, otherwise FFN (MoE when the model has experts, dense MLP otherwise).
 * Reading rebuilds the HF-style keys and reuses `parseModelConfig`, so both formats pass the same validation.
 */
import { TandemError } from '../errors.js';
import type { DType } from '../numerics/tensor.js';
import { parseModelConfig, type ModelConfig } from './config.js';
import { ggufBool, ggufNumber, ggufNumberArray, ggufNumberOr, ggufString, type GgufFile, type GgufValue } from './gguf.js';

export const GGUF_ARCHES = ['nemotron_h', 'nemotron_h_moe'] as const;

function perLayer(f: GgufFile, key: string, L: number): number[] {
  const v = f.metadata.get(key);
  if (v && v.type !== 'array') return Array.from({ length: L }, () => ggufNumber(f, key));
  const arr = ggufNumberArray(f, key);
  if (arr.length !== L) throw new TandemError('BAD_CHECKPOINT', `GGUF key ${key} has ${arr.length} entries for ${L} layers`);
  return arr;
}

function firstNonZero(xs: readonly number[]): number | undefined {
  return xs.find((x) => x !== 0);
}

/** Build the normalized config from a GGUF file's metadata. */
export function configFromGguf(f: GgufFile, source: string): ModelConfig {
  const arch = ggufString(f, 'general.architecture');
  if (!(GGUF_ARCHES as readonly string[]).includes(arch)) {
    throw new TandemError('UNSUPPORTED', `${source}: architecture "${arch}" is not a Nemotron hybrid; Tandem runs ${GGUF_ARCHES.join(' and ')} GGUFs`);
  }
  const k = (s: string): string => `${arch}.${s}`;
  const L = ggufNumber(f, k('block_count'));
  const hkv = perLayer(f, k('attention.head_count_kv'), L);
  const ff = perLayer(f, k('feed_forward_length'), L);
  const experts = ggufNumberOr(f, k('expert_count'), 0);
  const pattern = hkv.map((kv, i) => (ff[i] !== 0 ? (experts > 0 ? 'E' : '-') : kv === 0 ? 'M' : '*')).join('');
  const embd = f.tensors.get('token_embd.weight');
  if (!embd) throw new TandemError('TENSOR_MISMATCH', `${source}: missing tensor token_embd.weight`);
  const nh = ggufNumberOr(f, k('ssm.time_step_rank'), 0);
  const inner = ggufNumberOr(f, k('ssm.inner_size'), 0);
  const raw: Record<string, unknown> = {
    model_type: 'nemotron_h',
    vocab_size: embd.shape[0],
    hidden_size: ggufNumber(f, k('embedding_length')),
    hybrid_override_pattern: pattern,
    layer_norm_epsilon: ggufNumberOr(f, k('attention.layer_norm_rms_epsilon'), 1e-5),
    max_position_embeddings: ggufNumberOr(f, k('context_length'), 1 << 20),
    tie_word_embeddings: !f.tensors.has('output.weight'),
    num_attention_heads: ggufNumberOr(f, k('attention.head_count'), 1),
    num_key_value_heads: firstNonZero(hkv) ?? ggufNumberOr(f, k('attention.head_count'), 1),
    head_dim: ggufNumberOr(f, k('attention.key_length'), 1),
    mamba_num_heads: nh || undefined,
    mamba_head_dim: nh ? inner / nh : undefined,
    ssm_state_size: ggufNumberOr(f, k('ssm.state_size'), 0) || undefined,
    n_groups: ggufNumberOr(f, k('ssm.group_count'), 1),
    conv_kernel: ggufNumberOr(f, k('ssm.conv_kernel'), 4),
    bos_token_id: f.metadata.has('tokenizer.ggml.bos_token_id') ? ggufNumber(f, 'tokenizer.ggml.bos_token_id') : undefined,
    eos_token_id: f.metadata.has('tokenizer.ggml.eos_token_id') ? ggufNumber(f, 'tokenizer.ggml.eos_token_id') : undefined,
  };
  if (experts > 0) {
    const scale = ggufNumberOr(f, k('expert_weights_scale'), 0);
    const latent = ggufNumberOr(f, k('moe_latent_size'), 0);
    Object.assign(raw, {
      n_routed_experts: experts,
      num_experts_per_tok: ggufNumber(f, k('expert_used_count')),
      moe_intermediate_size: ggufNumberOr(f, k('expert_feed_forward_length'), firstNonZero(ff) ?? 0),
      moe_shared_expert_intermediate_size: ggufNumber(f, k('expert_shared_feed_forward_length')),
      n_shared_experts: ggufNumberOr(f, k('expert_shared_count'), 1),
      norm_topk_prob: ggufBool(f, k('expert_weights_norm'), false),
      routed_scaling_factor: scale === 0 ? 1 : scale, // llama.cpp skips the multiply for 0 and 1
      n_group: ggufNumberOr(f, k('expert_group_count'), 1) || 1,
      topk_group: ggufNumberOr(f, k('expert_group_used_count'), 1) || 1,
      moe_latent_size: latent > 0 ? latent : null,
    });
  } else if (pattern.includes('-')) {
    const dims = new Set(ff.filter((x) => x !== 0));
    if (dims.size > 1) throw new TandemError('UNSUPPORTED', `${source}: MLP layers of different widths (${[...dims].join(', ')}) are not supported`);
    raw.intermediate_size = [...dims][0];
  }
  for (const key of Object.keys(raw)) if (raw[key] === undefined) delete raw[key];
  try {
    return parseModelConfig(raw);
  } catch (e) {
    if (e instanceof TandemError) throw new TandemError(e.code, `${source} (GGUF metadata): ${e.message.replace(/^config\.json: /, '')}`);
    throw e;
  }
}

const u32 = (value: number): GgufValue => ({ type: 'u32', value });
const f32 = (value: number): GgufValue => ({ type: 'f32', value });
const i32s = (values: number[]): GgufValue => ({ type: 'array', itemType: 'i32', values });

/** llama.cpp's `general.file_type` (llama_ftype) for a checkpoint whose matrices are all of one type. */
export const GGUF_FILE_TYPE: Readonly<Partial<Record<DType, number>>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k: 14, q5_k: 16, q6_k: 18, bf16: 32, ggml_mxfp4: 38, ggml_nvfp4: 39 };

/** The model metadata llama.cpp needs to load this config (tokenizer keys are added by the caller). */
export function ggufMetadataFromConfig(c: ModelConfig, name: string, matrixType: DType = 'f32'): Array<[string, GgufValue]> {
  const arch = c.moe ? 'nemotron_h_moe' : 'nemotron_h';
  const k = (s: string): string => `${arch}.${s}`;
  const ffWidth = c.moe ? c.moe.expertDim : c.mlpDim;
  const meta: Array<[string, GgufValue]> = [
    ['general.architecture', { type: 'string', value: arch }],
    ['general.name', { type: 'string', value: name }],
    ['general.file_type', u32(GGUF_FILE_TYPE[matrixType] ?? 0)],
    [k('block_count'), u32(c.layers.length)],
    [k('context_length'), u32(c.maxPositions)],
    [k('embedding_length'), u32(c.hiddenSize)],
    [k('vocab_size'), u32(c.vocabSize)],
    [k('feed_forward_length'), i32s(c.layers.map((l) => (l === 'mlp' || l === 'moe' ? ffWidth : 0)))],
    [k('attention.head_count'), u32(c.attention.numHeads)],
    [k('attention.head_count_kv'), i32s(c.layers.map((l) => (l === 'attention' ? c.attention.numKvHeads : 0)))],
    [k('attention.key_length'), u32(c.attention.headDim)],
    [k('attention.value_length'), u32(c.attention.headDim)],
    [k('attention.layer_norm_rms_epsilon'), f32(c.eps)],
    [k('attention.layer_norm_epsilon'), f32(c.eps)],
    [k('ssm.conv_kernel'), u32(c.mamba.convKernel)],
    [k('ssm.state_size'), u32(c.mamba.stateSize)],
    [k('ssm.group_count'), u32(c.mamba.nGroups)],
    [k('ssm.inner_size'), u32(c.mamba.dInner)],
    [k('ssm.time_step_rank'), u32(c.mamba.numHeads)],
    [k('rope.scaling.finetuned'), { type: 'bool', value: false }],
  ];
  if (c.moe) {
    const m = c.moe;
    meta.push(
      [k('expert_count'), u32(m.numExperts)],
      [k('expert_used_count'), u32(m.topK)],
      [k('expert_feed_forward_length'), u32(m.expertDim)],
      [k('expert_shared_feed_forward_length'), u32(m.sharedDim)],
      [k('expert_shared_count'), u32(1)],
      [k('expert_weights_norm'), { type: 'bool', value: m.normTopK }],
      [k('expert_weights_scale'), f32(m.routedScale)],
      [k('expert_group_count'), u32(m.nGroup)],
      [k('expert_group_used_count'), u32(m.topkGroup)],
    );
    if (m.hasLatent) meta.push([k('moe_latent_size'), u32(m.latentSize)]);
  }
  return meta;
}
