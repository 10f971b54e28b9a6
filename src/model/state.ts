/**
 * Per-sequence inference state, a first-class value: attention KV for `*` layers, conv + SSM state (f32) for `M`
 * layers, nothing for `-`/`E` layers, plus the tokens consumed so far (position = tokens.length).
 * It can be forked (deep copy), serialized to bytes and restored; see state-codec.ts for the byte format.
 *
 * Shapes (per layer): conv [K−1, Cd]; ssm [nh, P, N]; k, v [capacity, nkv·dh] with rows 0..pos−1 valid.
 */
import type { ModelConfig } from '../formats/config.js';

export interface MambaState {
  readonly kind: 'mamba2';
  readonly conv: Float32Array; // [K−1, Cd] last pre-conv xBC rows
  readonly ssm: Float32Array; // [nh, P, N]
}

export interface KvState {
  readonly kind: 'attention';
  k: Float32Array; // [capacity, nkv·dh]
  v: Float32Array; // [capacity, nkv·dh]
}

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

export function createState(cfg: ModelConfig, fingerprint: string): SequenceState {
  const m = cfg.mamba;
  const layers = cfg.layers.map((kind): LayerState => {
    switch (kind) {
      case 'mamba2':
        return { kind, conv: new Float32Array((m.convKernel - 1) * m.convDim), ssm: new Float32Array(m.numHeads * m.headDim * m.stateSize) };
      case 'attention':
        return { kind, k: new Float32Array(0), v: new Float32Array(0) };
      case 'mlp':
      case 'moe':
        return { kind: 'none' };
    }
  });
  return { model: fingerprint, tokens: [], layers };
}

/** Grow a KV cache so it holds at least `tokens` rows (capacity doubles; existing rows are kept). */
export function reserveKv(kv: KvState, tokens: number, dim: number): void {
  const have = kv.k.length / dim;
  if (have >= tokens) return;
  const cap = Math.max(tokens, Math.ceil(have * 2), 16);
  const k = new Float32Array(cap * dim);
  const v = new Float32Array(cap * dim);
  k.set(kv.k);
  v.set(kv.v);
  kv.k = k;
  kv.v = v;
}

/** A deep copy that continues independently of the original (fork). KV is trimmed to the used rows. */
export function forkState(s: SequenceState, cfg: ModelConfig): SequenceState {
  const used = s.tokens.length * kvDim(cfg);
  const layers = s.layers.map((l): LayerState => {
    switch (l.kind) {
      case 'mamba2':
        return { kind: 'mamba2', conv: l.conv.slice(), ssm: l.ssm.slice() };
      case 'attention':
        return { kind: 'attention', k: l.k.slice(0, used), v: l.v.slice(0, used) };
      case 'none':
        return l;
    }
  });
  return { model: s.model, tokens: s.tokens.slice(), layers };
}

/** Bytes of state for a sequence of `tokens` tokens (f32 everywhere, as stored). */
export function stateBytes(cfg: ModelConfig, tokens: number): { fixed: number; perToken: number; total: number } {
  const m = cfg.mamba;
  let fixed = 0;
  let perToken = 0;
  for (const kind of cfg.layers) {
    if (kind === 'mamba2') fixed += 4 * ((m.convKernel - 1) * m.convDim + m.numHeads * m.headDim * m.stateSize);
    if (kind === 'attention') perToken += 4 * 2 * kvDim(cfg);
  }
  return { fixed, perToken, total: fixed + perToken * tokens };
}
