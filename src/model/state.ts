/**
 * Per-sequence inference state, a first-class value: attention KV for `*` layers, conv + SSM state (f32) for `M`
 * layers, nothing for `-`/`E` layers, plus the tokens consumed so far (position = tokens.length).
 * It can be forked (deep copy), serialized to bytes and restored; see state-codec.ts for the byte format.
 *
 * Shapes (per layer): conv [K−1, Cd]; ssm [nh, P, N]; k, v [capacity, nkv·dh] with rows 0..pos−1 valid.
 */
import type { ModelConfig } from '../formats/config.js';

/** How a sequence stores its state: KV in f32 or FP8 E4M3 (scale per token and KV head); SSM state in f32 or BF16. */
export interface StateFormat {
  readonly kv: 'f32' | 'fp8';
  readonly ssm: 'f32' | 'bf16';
}

export const DEFAULT_STATE_FORMAT: StateFormat = { kv: 'f32', ssm: 'f32' };

export type MambaState =
  | { readonly kind: 'mamba2'; readonly ssmFormat: 'f32'; readonly conv: Float32Array; readonly ssm: Float32Array } // conv [K−1, Cd]; ssm [nh, P, N]
  | { readonly kind: 'mamba2'; readonly ssmFormat: 'bf16'; readonly conv: Float32Array; readonly ssm: Uint16Array }; // ssm as BF16 bits

export interface KvF32 {
  readonly kind: 'attention';
  readonly format: 'f32';
  k: Float32Array; // [capacity, nkv·dh]
  v: Float32Array; // [capacity, nkv·dh]
}

export interface KvFp8 {
  readonly kind: 'attention';
  readonly format: 'fp8';
  k: Uint8Array; // E4M3 codes [capacity, nkv·dh]
  v: Uint8Array;
  kScale: Float32Array; // decode scale per token and KV head [capacity, nkv]
  vScale: Float32Array;
}

export type KvState = KvF32 | KvFp8;

export interface NoState {
  readonly kind: 'none';
}

export type LayerState = MambaState | KvState | NoState;

export interface SequenceState {
  /** Fingerprint of the model this state belongs to. */
  readonly model: string;
  readonly tokens: number[];
  readonly layers: LayerState[];
}

export function kvDim(cfg: ModelConfig): number {
  return cfg.attention.numKvHeads * cfg.attention.headDim;
}

export function createState(cfg: ModelConfig, fingerprint: string, format: StateFormat = DEFAULT_STATE_FORMAT): SequenceState {
  const m = cfg.mamba;
  const ssmSize = m.numHeads * m.headDim * m.stateSize;
  const layers = cfg.layers.map((kind): LayerState => {
    switch (kind) {
      case 'mamba2': {
        const conv = new Float32Array((m.convKernel - 1) * m.convDim);
        return format.ssm === 'bf16' ? { kind, ssmFormat: 'bf16', conv, ssm: new Uint16Array(ssmSize) } : { kind, ssmFormat: 'f32', conv, ssm: new Float32Array(ssmSize) };
      }
      case 'attention':
        return format.kv === 'fp8'
          ? { kind, format: 'fp8', k: new Uint8Array(0), v: new Uint8Array(0), kScale: new Float32Array(0), vScale: new Float32Array(0) }
          : { kind, format: 'f32', k: new Float32Array(0), v: new Float32Array(0) };
      case 'mlp':
      case 'moe':
        return { kind: 'none' };
    }
  });
  return { model: fingerprint, tokens: [], layers };
}

function grow<T extends Float32Array | Uint8Array>(a: T, n: number): T {
  const b = (a instanceof Float32Array ? new Float32Array(n) : new Uint8Array(n)) as T;
  b.set(a);
  return b;
}

/** Grow a KV cache so it holds at least `tokens` rows (capacity doubles; existing rows are kept). */
export function reserveKv(kv: KvState, tokens: number, dim: number, kvHeads: number): void {
  const have = kv.k.length / dim;
  if (have >= tokens) return;
  const cap = Math.max(tokens, Math.ceil(have * 2), 16);
  kv.k = grow(kv.k, cap * dim);
  kv.v = grow(kv.v, cap * dim);
  if (kv.format === 'fp8') {
    kv.kScale = grow(kv.kScale, cap * kvHeads);
    kv.vScale = grow(kv.vScale, cap * kvHeads);
  }
}

/** A deep copy that continues independently of the original (fork). KV is trimmed to the used rows. */
export function forkState(s: SequenceState, cfg: ModelConfig): SequenceState {
  const used = s.tokens.length * kvDim(cfg);
  const usedScales = s.tokens.length * cfg.attention.numKvHeads;
  const layers = s.layers.map((l): LayerState => {
    switch (l.kind) {
      case 'mamba2':
        return l.ssmFormat === 'bf16' ? { ...l, conv: l.conv.slice(), ssm: l.ssm.slice() } : { ...l, conv: l.conv.slice(), ssm: l.ssm.slice() };
      case 'attention':
        return l.format === 'fp8'
          ? { ...l, k: l.k.slice(0, used), v: l.v.slice(0, used), kScale: l.kScale.slice(0, usedScales), vScale: l.vScale.slice(0, usedScales) }
          : { ...l, k: l.k.slice(0, used), v: l.v.slice(0, used) };
      case 'none':
        return l;
    }
  });
  return { model: s.model, tokens: s.tokens.slice(), layers };
}

/** Bytes of state for a sequence of `tokens` tokens, as stored in `format`. */
export function stateBytes(cfg: ModelConfig, tokens: number, format: StateFormat = DEFAULT_STATE_FORMAT): { fixed: number; perToken: number; total: number } {
  const m = cfg.mamba;
  const ssmElem = format.ssm === 'bf16' ? 2 : 4;
  const kvToken = format.kv === 'fp8' ? 2 * (kvDim(cfg) + 4 * cfg.attention.numKvHeads) : 4 * 2 * kvDim(cfg);
  let fixed = 0;
  let perToken = 0;
  for (const kind of cfg.layers) {
    if (kind === 'mamba2') fixed += 4 * (m.convKernel - 1) * m.convDim + ssmElem * m.numHeads * m.headDim * m.stateSize;
    if (kind === 'attention') perToken += kvToken;
  }
  return { fixed, perToken, total: fixed + perToken * tokens };
}
