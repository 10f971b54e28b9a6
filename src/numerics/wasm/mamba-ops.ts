/**
 * The Mamba-2 mixer's recurrent ops on the wasm kernels (assembly/ssd.ts, assembly/conv.ts): the chunked SSD scan
 * (prefill), the sequential scan (decode) and the causal conv1d. Inputs and the state are the caller's Float32Arrays:
 * each call copies them into the first shard's scratch, runs the kernel, and copies y / out and the state back (a
 * memcpy of ≈ 1 MiB per call on the 250M model, small next to the scan itself). Δ = clamp(softplus(dt + dt_bias)) is
 * computed here in f64 with ref's own `deltaOf`, so both backends see the same time steps.
 *
 * Long inputs are cut into token blocks that fit the scratch; a chunked scan that cannot fit one chunk uses smaller
 * chunks (the result may not depend on the chunk size beyond rounding). Shapes the kernels do not take (a head count
 * that is not a multiple of the group count, a state too large for the scratch) run the ref ops.
 */
import type { ConvArgs, ScanArgs } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { deltaOf } from '../ref/ssm-scan.js';
import { regionBytes, type OpScratch } from './op-scratch.js';
import { alignUp } from './allocator.js';
import { OP_SSD } from './control.js';

/** How a chunk's heads may be split over threads (the backend's pool); part 0 is the calling thread. */
export interface HeadSplit {
  /** Parts to use for a chunk whose state work is `bytes` (1: no split). */
  parts(bytes: number): number;
  /** Starts kernel op `op` on the worker of part p ≥ 1. */
  post(p: number, op: number, args: readonly number[]): void;
  /** Waits for part p ≥ 1 (rethrows its error). */
  wait(p: number): void;
}

const NO_SPLIT: HeadSplit = { parts: () => 1, post: () => undefined, wait: () => undefined };

export class MambaOps {
  readonly #s: OpScratch;
  readonly #split: HeadSplit;

  constructor(scratch: OpScratch, split: HeadSplit = NO_SPLIT) {
    this.#s = scratch;
    this.#split = split;
  }

  #f32(ptr: number, n: number): Float32Array {
    return this.#s.f32(ptr, n);
  }

  /** Δ[t0 + i, h] for i < L into f64 [L, nh] at ptr. */
  #stageDelta(a: ScanArgs, t0: number, L: number, ptr: number): void {
    const d = this.#s.f64(ptr, L * a.numHeads);
    for (let i = 0; i < L; i++) for (let h = 0; h < a.numHeads; h++) d[i * a.numHeads + h] = deltaOf(a, t0 + i, h);
  }

  /** Scan-call buffer sizes for blocks of L tokens: x, B, C, Δ, y, A, D, state, then `extra` bytes. */
  static scanSizes(a: ScanArgs, L: number, extra: number): number[] {
    const { numHeads: nh, headDim: P, stateSize: N, nGroups: G } = a;
    return [L * nh * P * 4, L * G * N * 4, L * G * N * 4, L * nh * 8, L * nh * P * 4, nh * 4, nh * 4, nh * P * N * 4, extra];
  }

  /** Copies tokens t0..t0+L of x, B, C and their Δ into the region. */
  #stageTokens(a: ScanArgs, t0: number, L: number, r: readonly number[]): void {
    const xw = a.numHeads * a.headDim, bw = a.nGroups * a.stateSize;
    this.#f32(r[0]!, L * xw).set(a.x.subarray(t0 * xw, (t0 + L) * xw));
    this.#f32(r[1]!, L * bw).set(a.B.subarray(t0 * bw, (t0 + L) * bw));
    this.#f32(r[2]!, L * bw).set(a.C.subarray(t0 * bw, (t0 + L) * bw));
    this.#stageDelta(a, t0, L, r[3]!);
  }

  /** Runs `block(t0, L)` over token blocks of at most L after staging A, D and the state; copies the state back. */
  #scanBlocks(a: ScanArgs, L: number, r: readonly number[], block: (t0: number, n: number) => void): void {
    const { numHeads: nh, headDim: P, stateSize: N } = a;
    this.#f32(r[5]!, nh).set(a.A.subarray(0, nh));
    this.#f32(r[6]!, nh).set(a.D.subarray(0, nh));
    this.#f32(r[7]!, nh * P * N).set(a.state.subarray(0, nh * P * N));
    for (let t0 = 0; t0 < a.T; t0 += L) {
      const n = Math.min(L, a.T - t0);
      this.#stageTokens(a, t0, n, r);
      block(t0, n);
      a.y.set(this.#f32(r[4]!, n * nh * P), t0 * nh * P);
    }
    a.state.set(this.#f32(r[7]!, nh * P * N));
  }

  ssdChunkScan(a: ScanArgs): void {
    if (a.T <= 0) return;
    if (!kernelShape(a)) return refBackend.ssdChunkScan(a);
    const k = this.#s.kernels;
    const { numHeads: nh, headDim: P, stateSize: N, nGroups: G } = a;
    const want = Math.min(Math.max(1, Math.floor(a.chunkSize)), a.T);
    const parts = Math.max(1, Math.min(nh, this.#split.parts(want * nh * P * N * 4)));
    const wb = (L: number): number => alignUp(k.ssdWorkBytes(L, P, N));
    const f = this.#s.fit(want, (L) => MambaOps.scanSizes(a, L, parts * wb(L)));
    if (!f) return refBackend.ssdChunkScan(a);
    const [x, B, C, delta, y, A, D, state, work] = f.at as [number, number, number, number, number, number, number, number, number];
    const h = (p: number): number => Math.round((nh * p) / parts);
    const w = wb(f.n);
    this.#scanBlocks(a, f.n, f.at, (_t0, n) => {
      for (let p = 1; p < parts; p++) this.#split.post(p, OP_SSD, [0, n, nh, P, N, G, x, B, C, delta, A, D, state, y, work + p * w, h(p), h(p + 1)]);
      k.ssdChunk(n, nh, P, N, G, x, B, C, delta, A, D, state, y, work, 0, h(1));
      for (let p = 1; p < parts; p++) this.#split.wait(p);
    });
  }

  ssmScan(a: ScanArgs): void {
    if (a.T <= 0) return;
    if (!kernelShape(a)) return refBackend.ssmScan(a);
    const k = this.#s.kernels;
    const { numHeads: nh, headDim: P, stateSize: N, nGroups: G } = a;
    const perToken = nh * P * 8 + G * N * 8 + nh * 8 + 5 * 64;
    const fixed = regionBytes(MambaOps.scanSizes(a, 0, 0));
    const f = this.#s.fit(Math.min(a.T, Math.floor((this.#s.limit - fixed) / perToken)), (L) => MambaOps.scanSizes(a, L, 0));
    if (!f) return refBackend.ssmScan(a);
    const [x, B, C, delta, y, A, D, state] = f.at as [number, number, number, number, number, number, number, number];
    this.#scanBlocks(a, f.n, f.at, (_t0, n) => k.ssmStep(n, nh, P, N, G, x, B, C, delta, A, D, state, y));
  }

  conv1d(a: ConvArgs): void {
    const { T, channels: Cd, kernel: K } = a;
    if (T <= 0) return;
    const H = K - 1;
    const f = this.#s.fit(T, (L) => [(H + L) * Cd * 4, L * Cd * 4, K * Cd * 4, K * Cd * 4, Cd * 4]);
    if (!f) return refBackend.conv1d(a);
    const L = f.n;
    const [win, out, weight, wt, bias] = f.at as [number, number, number, number, number];
    this.#f32(weight, K * Cd).set(a.weight.subarray(0, K * Cd));
    this.#f32(bias, Cd).set(a.bias.subarray(0, Cd));
    const k = this.#s.kernels;
    for (let t0 = 0; t0 < T; t0 += L) {
      const n = Math.min(L, T - t0);
      this.#f32(win, H * Cd).set(a.state.subarray(0, H * Cd));
      this.#f32(win + H * Cd * 4, n * Cd).set(a.x.subarray(t0 * Cd, (t0 + n) * Cd));
      k.conv1dSilu(n, Cd, K, win, weight, bias, out, wt);
      a.out.set(this.#f32(out, n * Cd), t0 * Cd);
      a.state.set(this.#f32(win + n * Cd * 4, H * Cd));
    }
  }
}

/** Shapes the scan kernels take: whole heads per group (ref's floor(h / (nh/G)) equals integer division then). */
function kernelShape(a: ScanArgs): boolean {
  const { numHeads: nh, headDim: P, stateSize: N, nGroups: G } = a;
  return [nh, P, N, G].every((v) => Number.isInteger(v) && v > 0) && nh % G === 0;
}
