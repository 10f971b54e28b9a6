/**
 * Synthetic benchmark shapes (`tandem make-synthetic`): random weights with the real widths of released Nemotron
 * hybrids, cut to a few layers, and the storage plan of every tensor in GGUF naming. Shapes come from
 * specs/nemotron-h.md §2.3 (Nemotron-H-8B-Base-8K, Nemotron-3-Nano-30B-A3B) and §1 (the 8B layer pattern).
 *
 * Storage follows llama.cpp's converters: linear weights (embedding, LM head, projections, experts) in the chosen
 * format; norms, conv taps, Mamba A/D/dt, the MoE selection bias and the MoE router (`ffn_gate_inp`) in F32.
 */
import { TandemError } from '../errors.js';
import { parseModelConfig, type ModelConfig } from '../formats/config.js';
import { modelSpecs, type TensorSpec } from '../formats/tensor-names.js';
import { DTYPE_LAYOUT, tensorBytes, type DType } from '../numerics/tensor.js';

export const SYNTHETIC_FORMATS = ['f32', 'f16', 'q8_0', 'q4_0', 'nvfp4'] as const;
export type SyntheticFormat = (typeof SYNTHETIC_FORMATS)[number];

/** ggml storage type of each format (`nvfp4` is ggml's own GGUF NVFP4, type 40). */
export const SYNTHETIC_DTYPE: Readonly<Record<SyntheticFormat, DType>> = {
  f32: 'f32', f16: 'f16', q8_0: 'q8_0', q4_0: 'q4_0', nvfp4: 'ggml_nvfp4',
};


export interface SyntheticShape {
  readonly name: string;
  readonly description: string;
  /** Default layer schedule; `layers: N` repeats it (or cuts it) to N layers. */
  readonly pattern: string;
  /** config.json keys, without the layer schedule. */
  readonly config: Readonly<Record<string, unknown>>;
}

const COMMON: Readonly<Record<string, unknown>> = {
  architectures: ['NemotronHForCausalLM'], model_type: 'nemotron_h', torch_dtype: 'float32',
  attention_bias: false, use_conv_bias: true, use_bias: false, mamba_hidden_act: 'silu', mlp_hidden_act: 'relu2',
  mlp_bias: false, layer_norm_epsilon: 1e-5, residual_in_fp32: false, tie_word_embeddings: false,
  conv_kernel: 4, chunk_size: 128, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0,
};

/** The first 20 layers of the Nemotron-H-8B pattern (`M-M-M-M*-M-M-M-M-M*-…`). */
const PATTERN_8B_20 = 'M-M-M-M*-M-M-M-M-M*-';

export const SYNTHETIC_SHAPES: readonly SyntheticShape[] = [
  {
    name: 'hybrid-250m',
    description: '~250M-parameter Nemotron-H-style hybrid: hidden 1024, 20 layers of the 8B pattern, the 8B ratios (Mamba d_inner 2H, FFN 5.25H, 4 query heads per KV head), vocab 32000',
    pattern: PATTERN_8B_20,
    config: {
      ...COMMON, vocab_size: 32000, hidden_size: 1024, max_position_embeddings: 8192,
      num_attention_heads: 8, num_key_value_heads: 2, head_dim: 128,
      mamba_num_heads: 32, mamba_head_dim: 64, ssm_state_size: 128, n_groups: 8, intermediate_size: 5376,
    },
  },
  {
    name: 'nemotron-h-8b',
    description: 'Nemotron-H-8B-Base-8K widths (hidden 4096, 128 Mamba heads × 64, state 128, 32/8 attention heads, FFN 21504, vocab 131072), cut to a few layers',
    pattern: 'M-M*-',
    config: {
      ...COMMON, vocab_size: 131072, hidden_size: 4096, max_position_embeddings: 8192,
      num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128,
      mamba_num_heads: 128, mamba_head_dim: 64, ssm_state_size: 128, n_groups: 8, intermediate_size: 21504,
    },
  },
  {
    name: 'nemotron-3-nano',
    description: 'Nemotron-3-Nano-30B-A3B widths (hidden 2688, 64 Mamba heads × 64, 32/2 attention heads, 128 experts top-6 of width 1856, shared 3712, vocab 131072), cut to a few layers',
    pattern: 'MEM*E',
    config: {
      ...COMMON, vocab_size: 131072, hidden_size: 2688, max_position_embeddings: 262144,
      num_attention_heads: 32, num_key_value_heads: 2, head_dim: 128,
      mamba_num_heads: 64, mamba_head_dim: 64, ssm_state_size: 128, n_groups: 8, intermediate_size: 1856,
      n_routed_experts: 128, num_experts_per_tok: 6, moe_intermediate_size: 1856, moe_shared_expert_intermediate_size: 3712,
      n_shared_experts: 1, norm_topk_prob: true, routed_scaling_factor: 2.5, n_group: 1, topk_group: 1,
    },
  },
];

export const SYNTHETIC_SHAPE_NAMES: readonly string[] = SYNTHETIC_SHAPES.map((s) => s.name);

export function syntheticShape(name: string): SyntheticShape {
  const s = SYNTHETIC_SHAPES.find((x) => x.name === name);
  if (!s) throw new TandemError('BAD_ARGUMENT', `--shape "${name}" is not a synthetic shape; use one of ${SYNTHETIC_SHAPE_NAMES.join(', ')}`);
  return s;
}

export function parseSyntheticFormat(f: string): SyntheticFormat {
  if (!(SYNTHETIC_FORMATS as readonly string[]).includes(f)) {
    throw new TandemError('BAD_ARGUMENT', `--format "${f}" is not supported by make-synthetic; use one of ${SYNTHETIC_FORMATS.join(', ')}`);
  }
  return f as SyntheticFormat;
}

export interface SyntheticOptions {
  /** Layer schedule over M * - E; default: the shape's pattern. */
  readonly pattern?: string;
  /** Repeat or cut the pattern to this many layers. */
  readonly layers?: number;
  readonly maxPositions?: number;
  /** config.json keys to override (tests shrink the widths this way). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** `pattern` repeated and cut to `n` layers. */
export function cyclePattern(pattern: string, n: number): string {
  return pattern.repeat(Math.ceil(n / pattern.length)).slice(0, n);
}

/** The config.json object of a synthetic model and its parsed config. */
export function syntheticConfig(shape: SyntheticShape, o: SyntheticOptions = {}): { json: Record<string, unknown>; config: ModelConfig } {
  const base = o.pattern ?? shape.pattern;
  if (!/^[M*\-E]+$/.test(base)) throw new TandemError('BAD_ARGUMENT', `--pattern "${base}" may only contain M, *, - and E`);
  const pattern = o.layers === undefined ? base : cyclePattern(base, o.layers);
  const moe = pattern.includes('E');
  if (moe && pattern.includes('-')) throw new TandemError('BAD_ARGUMENT', `--pattern "${pattern}" mixes dense MLP (-) and MoE (E) layers; no Nemotron model does`);
  if (moe && shape.config.n_routed_experts === undefined) {
    throw new TandemError('BAD_ARGUMENT', `--pattern "${pattern}" has MoE (E) layers but shape ${shape.name} has no experts; use - layers or --shape nemotron-3-nano`);
  }
  const json: Record<string, unknown> = {
    ...shape.config, num_hidden_layers: pattern.length, hybrid_override_pattern: pattern,
    ...(o.maxPositions !== undefined ? { max_position_embeddings: o.maxPositions } : {}), ...o.overrides,
  };
  return { json, config: parseModelConfig(json) };
}

/** How one tensor is generated and stored. */
export interface SyntheticTensor {
  readonly name: string;
  /** Tandem's slot name (`embed`, `inProj`, `A`, `upExperts`, …): it selects the random init. */
  readonly slot: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly bytes: number;
}

export interface SyntheticPlan {
  readonly tensors: readonly SyntheticTensor[];
  readonly params: number;
  /** Bytes of tensor data (each tensor padded to 32 bytes, as in the file). */
  readonly dataBytes: number;
  /** Matrices whose rows are not whole blocks of the format, and the type they were stored in instead. */
  readonly fallbacks: readonly string[];
}

const F32_SLOTS: ReadonlySet<string> = new Set(['router']);

/** The storage type of a tensor: the format for linear weights with whole blocks per row, else Q8_0, else F32. */
function storageType(spec: TensorSpec, slot: string, target: DType, fallbacks: string[]): DType {
  if ((spec.role !== 'matrix' && spec.role !== 'experts') || F32_SLOTS.has(slot)) return 'f32';
  const cols = spec.shape[spec.shape.length - 1]!;
  for (const dtype of [target, 'q8_0', 'f32'] as const) {
    if (cols % DTYPE_LAYOUT[dtype].blockSize !== 0) continue;
    if (dtype !== target) fallbacks.push(`${spec.name} → ${dtype} (${cols} columns are not whole ${target} blocks)`);
    return dtype;
  }
  return 'f32';
}

/** Every tensor of `cfg` in GGUF naming and llama.cpp order, with its storage type in `format`. */
export function syntheticPlan(cfg: ModelConfig, format: SyntheticFormat): SyntheticPlan {
  const specs = modelSpecs(cfg, 'gguf');
  const entries: Array<[string, TensorSpec]> = [['embed', specs.embed]];
  specs.layers.forEach((l) => entries.push(...Object.entries(l)));
  entries.push(['normF', specs.normF]);
  if (specs.lmHead) entries.push(['lmHead', specs.lmHead]);
  const fallbacks: string[] = [];
  const tensors = entries.map(([slot, spec]): SyntheticTensor => {
    const dtype = storageType(spec, slot, SYNTHETIC_DTYPE[format], fallbacks);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    return { name: spec.name, slot, shape: spec.shape, dtype, bytes: tensorBytes(dtype, count) };
  });
  const params = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  const dataBytes = tensors.reduce((n, t) => n + Math.ceil(t.bytes / 32) * 32, 0);
  return { tensors, params, dataBytes, fallbacks };
}
