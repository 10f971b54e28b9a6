/**
 * config.json (HF `nemotron_h`) → one deeply readonly `ModelConfig`. This file is the only reader of raw config keys.
 *
 * Both layer-schedule spellings normalize to `layers: LayerKind[]`:
 *   - `hybrid_override_pattern`: one char per layer, M = Mamba-2, * = attention, - = ReLU² MLP, E = MoE;
 *   - `layers_block_type`: a list of names (mamba | linear_attention, attention | full_attention, mlp, moe).
 * Legacy and `mamba_`-prefixed key aliases are accepted (spec nemotron-h.md §2.2). Values Tandem cannot honour are
 * errors that name the key, never silent defaults.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { TandemError } from '../errors.js';

export type LayerKind = 'mamba2' | 'attention' | 'mlp' | 'moe';

export interface MambaConfig {
  readonly numHeads: number; // nh
  readonly headDim: number; // P
  readonly stateSize: number; // N
  readonly nGroups: number; // G (B/C groups)
  readonly convKernel: number; // K
  readonly chunkSize: number; // SSD chunk length for prefill
  readonly timeStepLimit: readonly [number, number]; // clamp range of Δ; (0, ∞) = none
  readonly dInner: number; // Di = nh·P
  readonly convDim: number; // Cd = Di + 2·G·N
  readonly inProjDim: number; // 2·Di + 2·G·N + nh
}

export interface AttentionConfig {
  readonly numHeads: number; // nq
  readonly numKvHeads: number; // nkv
  readonly headDim: number; // dh
}

export interface MoeConfig {
  readonly numExperts: number; // E
  readonly topK: number; // k
  readonly expertDim: number; // Fe
  readonly sharedDim: number; // Fs
  readonly normTopK: boolean;
  readonly routedScale: number;
  readonly nGroup: number;
  readonly topkGroup: number;
  readonly latentSize: number; // ℓ; equals hiddenSize when the model has no latent projections
  readonly hasLatent: boolean;
}

export interface ModelConfig {
  readonly architecture: 'nemotron_h';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly layers: readonly LayerKind[];
  readonly eps: number;
  readonly maxPositions: number;
  readonly tieWordEmbeddings: boolean;
  readonly mamba: MambaConfig;
  readonly attention: AttentionConfig;
  readonly mlpDim: number; // F (dense MLP width); 0 when the model has no `-` layers
  readonly moe: MoeConfig | null; // null when the model has no `E` layers
  readonly bosId: number | undefined;
  readonly eosIds: readonly number[];
}

const PATTERN_CHARS: Readonly<Record<string, LayerKind>> = { M: 'mamba2', '*': 'attention', '-': 'mlp', E: 'moe' };
const BLOCK_TYPE_NAMES: Readonly<Record<string, LayerKind>> = {
  mamba: 'mamba2', linear_attention: 'mamba2', attention: 'attention', full_attention: 'attention', mlp: 'mlp', moe: 'moe',
};
export const LAYER_KIND_CHAR: Readonly<Record<LayerKind, string>> = { mamba2: 'M', attention: '*', mlp: '-', moe: 'E' };

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const idOrIds = z.union([nonNegInt, z.array(nonNegInt)]).nullable().optional();

/** Raw key schema: only the keys Tandem reads; everything else in config.json is ignored. */
const RawConfig = z.object({
  model_type: z.string().optional(),
  architectures: z.array(z.string()).optional(),
  vocab_size: posInt,
  hidden_size: posInt,
  num_hidden_layers: posInt.optional(),
  hybrid_override_pattern: z.string().optional(),
  layers_block_type: z.array(z.string()).optional(),
  layer_norm_epsilon: z.number().positive().optional(),
  rms_norm_eps: z.number().positive().optional(),
  norm_eps: z.number().positive().optional(),
  max_position_embeddings: posInt.optional(),
  tie_word_embeddings: z.boolean().optional(),
  num_attention_heads: posInt.optional(),
  num_key_value_heads: posInt.optional(),
  head_dim: posInt.nullable().optional(),
  attention_head_dim: posInt.nullable().optional(),
  attention_bias: z.boolean().optional(),
  sliding_window: z.number().nullable().optional(),
  intermediate_size: nonNegInt.optional(),
  mlp_hidden_act: z.string().optional(),
  mlp_bias: z.boolean().optional(),
  mamba_num_heads: posInt.optional(),
  mamba_head_dim: posInt.optional(),
  ssm_state_size: posInt.optional(),
  n_groups: posInt.optional(),
  mamba_n_groups: posInt.optional(),
  conv_kernel: posInt.optional(),
  mamba_d_conv: posInt.optional(),
  chunk_size: posInt.optional(),
  mamba_chunk_size: posInt.optional(),
  mamba_hidden_act: z.string().optional(),
  use_conv_bias: z.boolean().optional(),
  mamba_conv_bias: z.boolean().optional(),
  use_bias: z.boolean().optional(),
  time_step_limit: z.array(z.union([z.number(), z.literal(Infinity)]).nullable()).length(2).nullable().optional(),
  mamba_dt_limit: z.array(z.union([z.number(), z.literal(Infinity)]).nullable()).length(2).nullable().optional(),
  n_routed_experts: posInt.optional(),
  num_experts_per_tok: posInt.optional(),
  moe_intermediate_size: posInt.optional(),
  moe_shared_expert_intermediate_size: posInt.optional(),
  n_shared_experts: nonNegInt.optional(),
  norm_topk_prob: z.boolean().optional(),
  routed_scaling_factor: z.number().optional(),
  n_group: posInt.optional(),
  topk_group: posInt.optional(),
  moe_latent_size: posInt.nullable().optional(),
  bos_token_id: idOrIds,
  eos_token_id: idOrIds,
});
type RawConfig = z.infer<typeof RawConfig>;

function bad(key: string, problem: string): TandemError {
  return new TandemError('BAD_CONFIG', `config.json: "${key}" ${problem}`);
}

/** Normalize the two layer-schedule spellings into one list of layer kinds. */
export function parseLayerSchedule(raw: Pick<RawConfig, 'hybrid_override_pattern' | 'layers_block_type'>): LayerKind[] {
  const fromPattern = raw.hybrid_override_pattern === undefined ? undefined : [...raw.hybrid_override_pattern].map((ch, i) => {
    const kind = PATTERN_CHARS[ch];
    if (!kind) throw bad('hybrid_override_pattern', `has unknown layer kind "${ch}" at index ${i} (supported: M, *, -, E)`);
    return kind;
  });
  const fromList = raw.layers_block_type?.map((name, i) => {
    const kind = BLOCK_TYPE_NAMES[name];
    if (!kind) throw bad(`layers_block_type[${i}]`, `is "${name}", an unknown layer kind (supported: ${Object.keys(BLOCK_TYPE_NAMES).join(', ')})`);
    return kind;
  });
  if (fromPattern && fromList && fromPattern.join() !== fromList.join()) {
    throw bad('layers_block_type', 'disagrees with "hybrid_override_pattern"; keep one of them or make them equal');
  }
  const layers = fromList ?? fromPattern;
  if (!layers || layers.length === 0) throw bad('hybrid_override_pattern', 'is missing or empty: the layer schedule is required (or give "layers_block_type")');
  return layers;
}

function requireKey<T>(value: T | undefined | null, key: string, why: string): T {
  if (value === undefined || value === null) throw bad(key, `is required ${why}`);
  return value;
}

function mambaConfig(raw: RawConfig, needed: boolean): MambaConfig {
  const why = 'for Mamba-2 (M) layers';
  const get = (v: number | undefined, key: string, dflt: number): number => (needed ? requireKey(v, key, why) : v ?? dflt);
  const numHeads = get(raw.mamba_num_heads, 'mamba_num_heads', 1);
  const headDim = get(raw.mamba_head_dim, 'mamba_head_dim', 1);
  const stateSize = get(raw.ssm_state_size, 'ssm_state_size', 1);
  const nGroups = raw.n_groups ?? raw.mamba_n_groups ?? 1;
  const convKernel = raw.conv_kernel ?? raw.mamba_d_conv ?? 4;
  if (numHeads % nGroups !== 0) throw bad('n_groups', `(${nGroups}) must divide mamba_num_heads (${numHeads})`);
  const act = raw.mamba_hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') throw bad('mamba_hidden_act', `is "${act}"; only "silu" is supported`);
  if ((raw.use_conv_bias ?? raw.mamba_conv_bias ?? true) !== true) throw bad('use_conv_bias', 'is false; Nemotron-H convolutions have a bias (true)');
  if (raw.use_bias === true) throw bad('use_bias', 'is true; Mamba in_proj/out_proj biases are not supported (Nemotron-H has none)');
  const lim = raw.time_step_limit ?? raw.mamba_dt_limit ?? [0, null];
  const timeStepLimit: [number, number] = [lim[0] ?? 0, lim[1] ?? Infinity];
  if (!(timeStepLimit[0] >= 0 && timeStepLimit[1] > timeStepLimit[0])) throw bad('time_step_limit', 'must be [min, max] with 0 ≤ min < max');
  const dInner = numHeads * headDim;
  const convDim = dInner + 2 * nGroups * stateSize;
  return {
    numHeads, headDim, stateSize, nGroups, convKernel, chunkSize: raw.chunk_size ?? raw.mamba_chunk_size ?? 128,
    timeStepLimit, dInner, convDim, inProjDim: 2 * dInner + 2 * nGroups * stateSize + numHeads,
  };
}

function attentionConfig(raw: RawConfig, hidden: number, needed: boolean): AttentionConfig {
  const why = 'for attention (*) layers';
  const numHeads = needed ? requireKey(raw.num_attention_heads, 'num_attention_heads', why) : raw.num_attention_heads ?? 1;
  const numKvHeads = raw.num_key_value_heads ?? numHeads;
  const headDim = raw.head_dim ?? raw.attention_head_dim ?? Math.floor(hidden / numHeads);
  if (numHeads % numKvHeads !== 0) throw bad('num_key_value_heads', `(${numKvHeads}) must divide num_attention_heads (${numHeads})`);
  if (raw.attention_bias === true) throw bad('attention_bias', 'is true; attention biases are not supported (Nemotron-H has none)');
  if (raw.sliding_window !== undefined && raw.sliding_window !== null) throw bad('sliding_window', 'is set; sliding-window attention is not supported');
  return { numHeads, numKvHeads, headDim };
}

function moeConfig(raw: RawConfig, hidden: number): MoeConfig {
  const why = 'for MoE (E) layers';
  const numExperts = requireKey(raw.n_routed_experts, 'n_routed_experts', why);
  const topK = requireKey(raw.num_experts_per_tok, 'num_experts_per_tok', why);
  if (topK > numExperts) throw bad('num_experts_per_tok', `(${topK}) exceeds n_routed_experts (${numExperts})`);
  const nGroup = raw.n_group ?? 1;
  const topkGroup = raw.topk_group ?? 1;
  if (numExperts % nGroup !== 0) throw bad('n_group', `(${nGroup}) must divide n_routed_experts (${numExperts})`);
  if (topkGroup > nGroup) throw bad('topk_group', `(${topkGroup}) exceeds n_group (${nGroup})`);
  if ((raw.n_shared_experts ?? 1) !== 1) throw bad('n_shared_experts', `is ${raw.n_shared_experts}; only 1 shared expert is supported`);
  const latent = raw.moe_latent_size ?? null;
  return {
    numExperts, topK, nGroup, topkGroup,
    expertDim: requireKey(raw.moe_intermediate_size, 'moe_intermediate_size', why),
    sharedDim: requireKey(raw.moe_shared_expert_intermediate_size, 'moe_shared_expert_intermediate_size', why),
    normTopK: raw.norm_topk_prob ?? true,
    routedScale: raw.routed_scaling_factor ?? 1,
    latentSize: latent ?? hidden,
    hasLatent: latent !== null,
  };
}

function idList(v: number | number[] | null | undefined): number[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Validate a parsed config.json object and build the normalized config. */
export function parseModelConfig(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TandemError('BAD_CONFIG', 'config.json: expected a JSON object');
  const obj = json as Record<string, unknown>;
  if (obj.model_type !== undefined && obj.model_type !== 'nemotron_h') {
    throw new TandemError('UNSUPPORTED', `config.json: "model_type" is "${String(obj.model_type)}"; Tandem runs "nemotron_h" (NemotronHForCausalLM) models`);
  }
  const parsed = RawConfig.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw bad(issue.path.join('.') || '(root)', `is invalid: ${issue.message}`);
  }
  const raw = parsed.data;
  if (raw.architectures && !raw.architectures.includes('NemotronHForCausalLM')) {
    throw new TandemError('UNSUPPORTED', `config.json: "architectures" is ${JSON.stringify(raw.architectures)}; Tandem runs NemotronHForCausalLM`);
  }
  const layers = parseLayerSchedule(raw);
  if (raw.num_hidden_layers !== undefined && raw.num_hidden_layers !== layers.length) {
    throw bad('num_hidden_layers', `is ${raw.num_hidden_layers} but the layer schedule has ${layers.length} layers`);
  }
  const has = (k: LayerKind): boolean => layers.includes(k);
  const act = raw.mlp_hidden_act ?? 'relu2';
  if (act !== 'relu2') throw bad('mlp_hidden_act', `is "${act}"; Nemotron-H MLPs use "relu2"`);
  if (raw.mlp_bias === true) throw bad('mlp_bias', 'is true; MLP biases are not supported (Nemotron-H has none)');
  return {
    architecture: 'nemotron_h',
    vocabSize: raw.vocab_size,
    hiddenSize: raw.hidden_size,
    layers,
    eps: raw.layer_norm_epsilon ?? raw.rms_norm_eps ?? raw.norm_eps ?? 1e-5,
    maxPositions: raw.max_position_embeddings ?? 4096,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    mamba: mambaConfig(raw, has('mamba2')),
    attention: attentionConfig(raw, raw.hidden_size, has('attention')),
    mlpDim: has('mlp') ? requireKey(raw.intermediate_size, 'intermediate_size', 'for MLP (-) layers') : 0,
    moe: has('moe') ? moeConfig(raw, raw.hidden_size) : null,
    bosId: idList(raw.bos_token_id)[0],
    eosIds: idList(raw.eos_token_id),
  };
}

/**
 * JSON.parse that also accepts the bare `Infinity`, `-Infinity` and `NaN` Python's json module writes (e.g.
 * `"time_step_limit": [0.0, Infinity]` from `save_pretrained`): outside strings they become 1e999 / -1e999 / null.
 */
export function parsePythonJson(text: string): unknown {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    const word = /^(-?Infinity|NaN)\b/.exec(text.slice(i, i + 9));
    if (!inString && word) {
      out += word[1] === 'NaN' ? 'null' : word[1] === '-Infinity' ? '-1e999' : '1e999';
      i += word[1]!.length - 1;
      continue;
    }
    out += ch;
  }
  return JSON.parse(out);
}

/** Read DIR/config.json. */
export function readModelConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new TandemError('NOT_FOUND', `${path} does not exist: an HF model directory needs config.json`);
  let json: unknown;
  try {
    json = parsePythonJson(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TandemError('BAD_CONFIG', `${path} is not valid JSON (${(e as Error).message})`);
  }
  return parseModelConfig(json);
}

/** The layer schedule as a pattern string (M, *, -, E). */
export function layerPattern(cfg: Pick<ModelConfig, 'layers'>): string {
  return cfg.layers.map((k) => LAYER_KIND_CHAR[k]).join('');
}
