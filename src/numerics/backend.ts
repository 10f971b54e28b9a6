/**
 * The Backend contract (version 1): every op the Nemotron-H forward pass needs, and nothing else.
 *
 * Conventions: all activations are row-major Float32Array; `T` = tokens in the call. Ops write into caller-owned
 * `out` buffers (no allocation on the hot path) and may update the recurrent state passed to them in place.
 * The `ref` backend (numerics/ref) is the oracle every later backend is tested against.
 */
import type { Matrix } from './tensor.js';

export const BACKEND_CONTRACT_VERSION = 1;

/** Causal depthwise conv over `T` rows of `Cd` channels, + bias, then SiLU; `state` holds the previous K−1 rows. */
export interface ConvArgs {
  readonly T: number;
  readonly channels: number; // Cd
  readonly kernel: number; // K
  readonly x: Float32Array; // [T, Cd] pre-conv input (xBC)
  readonly weight: Float32Array; // [Cd, K]; tap K−1 multiplies the current row
  readonly bias: Float32Array; // [Cd]
  readonly state: Float32Array; // [K−1, Cd] in: rows before x; out: the last K−1 rows of (state ++ x)
  readonly out: Float32Array; // [T, Cd]
}

/** Selective-state-space scan (Mamba-2 SSD) over `T` tokens for `nh` heads sharing `G` B/C groups. */
export interface ScanArgs {
  readonly T: number;
  readonly numHeads: number; // nh
  readonly headDim: number; // P
  readonly stateSize: number; // N
  readonly nGroups: number; // G; head h uses group floor(h / (nh/G))
  readonly x: Float32Array; // [T, nh·P]
  readonly B: Float32Array; // [T, G·N]
  readonly C: Float32Array; // [T, G·N]
  readonly dt: Float32Array; // [T, nh] raw time step (before + dt_bias and softplus)
  readonly dtBias: Float32Array; // [nh]
  readonly dtLimit: readonly [number, number]; // clamp of Δ after softplus; (0, ∞) = none
  readonly A: Float32Array; // [nh], negative
  readonly D: Float32Array; // [nh]
  readonly state: Float32Array; // [nh, P, N] in/out
  readonly y: Float32Array; // [T, nh·P]
  readonly chunkSize: number; // used by chunked scans only; results must not depend on it beyond rounding
}

/** A KV cache as stored: f32 rows, or FP8 E4M3 codes with one decode scale per token and KV head. */
export type KvView =
  | { readonly format: 'f32'; readonly k: Float32Array; readonly v: Float32Array } // [≥ pos0+T, nkv·dh]
  | { readonly format: 'fp8'; readonly k: Uint8Array; readonly v: Uint8Array; readonly kScale: Float32Array; readonly vScale: Float32Array }; // codes [≥ pos0+T, nkv·dh], scales [≥ pos0+T, nkv]

/** Causal GQA attention of `T` new queries at positions pos0..pos0+T−1 over keys 0..pos0+T−1 already in the cache. */
export interface AttentionArgs {
  readonly T: number;
  readonly pos0: number;
  readonly numHeads: number; // nq
  readonly numKvHeads: number; // nkv
  readonly headDim: number; // dh
  readonly q: Float32Array; // [T, nq·dh]
  readonly kv: KvView;
  readonly out: Float32Array; // [T, nq·dh]
}

/** Sigmoid top-k routing with a selection-only bias and optional group limit (DeepSeek-V3 style). */
export interface RouteArgs {
  readonly T: number;
  readonly numExperts: number; // E
  readonly topK: number; // k
  readonly nGroup: number;
  readonly topkGroup: number;
  readonly normTopK: boolean;
  readonly scale: number; // routed_scaling_factor
  readonly logits: Float32Array; // [T, E] router logits
  readonly bias: Float32Array; // [E] e_score_correction_bias
  readonly ids: Int32Array; // [T, k] out: chosen experts, by descending biased score
  readonly weights: Float32Array; // [T, k] out: routing weights (unbiased sigmoid, renormalized, scaled)
}

export interface Backend {
  readonly name: string;
  /** out[t, r] = Σ_c x[t, c] · W[r, c]; x: [T, W.cols], out: [T, W.rows]. */
  matmul(out: Float32Array, x: Float32Array, T: number, w: Matrix): void;
  /** out[i, :] = W[ids[i], :] decoded to f32. */
  embed(out: Float32Array, w: Matrix, ids: readonly number[]): void;
  /** RMSNorm over consecutive groups of `groupSize` within each row of `dim`, then × weight[dim]. */
  rmsNorm(out: Float32Array, x: Float32Array, T: number, dim: number, weight: Float32Array, eps: number, groupSize: number): void;
  /** y[i] ← y[i] · SiLU(z[i]) for T rows of `dim` (z rows have stride `zStride`). */
  siluGate(y: Float32Array, z: Float32Array, T: number, dim: number, zStride: number): void;
  /** x[i] ← max(x[i], 0)². */
  relu2(x: Float32Array, n: number): void;
  /** acc[i] ← acc[i] + scale · x[i]. */
  addScaled(acc: Float32Array, x: Float32Array, n: number, scale: number): void;
  conv1d(a: ConvArgs): void;
  /** Exact sequential recurrence (used for decode; any T). */
  ssmScan(a: ScanArgs): void;
  /** Chunked SSD form for prefill: same result as `ssmScan` up to summation order. */
  ssdChunkScan(a: ScanArgs): void;
  attention(a: AttentionArgs): void;
  route(a: RouteArgs): void;
  /**
   * Optional (additive to contract v1; ref has none): repack one weight for this backend ahead of time and return the
   * matrix to pass from then on — same dtype, shape and `act`, but its bytes may be gone (the wasm backend keeps them
   * only in its own memory), so no other backend or byte reader may use it. A loader calls it once per weight, after
   * anything that reads raw weight bytes (the model fingerprint), and can then drop the file buffer. Backends without
   * it take matrices as they are (the wasm backend then packs on first use, keeping both copies).
   */
  prepareMatrix?(m: Matrix): Matrix;
  /** Optional: stop the backend's worker threads and free its memory; it must not be used afterwards. */
  close?(): Promise<void>;
}
