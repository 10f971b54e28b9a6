/**
 * Chunked SSD scan (Mamba-2 "state space duality", spec nemotron-h.md §3.3.6) — the prefill form. Inside a chunk of
 * length Lc, with a_j = Δ_j·A[h] and cs_i = Σ_{j≤i} a_j:
 *   y_i   = Σ_{j≤i} exp(cs_i − cs_j)·(C_i·B_j)·Δ_j·x_j  +  exp(cs_i)·(S_in·C_i)  +  D·x_i
 *   S_out = exp(cs_last)·S_in + Σ_j exp(cs_last − cs_j)·Δ_j·(x_j ⊗ B_j)
 * Chunks run left to right carrying S. Equals `ssmScanRef` up to summation order.
 * Reference: state-spaces/mamba `modules/ssd_minimal.py` (`ssd_minimal_discrete`).
 */
import type { ScanArgs } from '../backend.js';
import { deltaOf } from './ssm-scan.js';

export function ssdChunkScanRef(a: ScanArgs): void {
  const Q = Math.max(1, a.chunkSize);
  for (let t0 = 0; t0 < a.T; t0 += Q) chunk(a, t0, Math.min(a.T, t0 + Q) - t0);
}

/** CB[g][i·Lc + j] = C_{t0+i}·B_{t0+j} for j ≤ i. */
function groupProducts(a: ScanArgs, t0: number, Lc: number): Float64Array[] {
  const { nGroups: G, stateSize: N, B, C } = a;
  return Array.from({ length: G }, (_, g) => {
    const cb = new Float64Array(Lc * Lc);
    for (let i = 0; i < Lc; i++) {
      const co = (t0 + i) * G * N + g * N;
      for (let j = 0; j <= i; j++) {
        const bo = (t0 + j) * G * N + g * N;
        let acc = 0;
        for (let n = 0; n < N; n++) acc += C[co + n]! * B[bo + n]!;
        cb[i * Lc + j] = acc;
      }
    }
    return cb;
  });
}

function chunk(a: ScanArgs, t0: number, Lc: number): void {
  const { numHeads: nh, headDim: P, stateSize: N, nGroups: G, x, B, C, A, D, state, y } = a;
  const cbs = groupProducts(a, t0, Lc);
  const delta = new Float64Array(Lc);
  const cs = new Float64Array(Lc);
  for (let h = 0; h < nh; h++) {
    const g = Math.floor(h / (nh / G));
    const cb = cbs[g]!;
    let run = 0;
    for (let i = 0; i < Lc; i++) {
      delta[i] = deltaOf(a, t0 + i, h);
      run += delta[i]! * A[h]!;
      cs[i] = run;
    }
    const csLast = cs[Lc - 1]!;
    for (let p = 0; p < P; p++) {
      const so = (h * P + p) * N;
      const xAt = (i: number): number => x[(t0 + i) * nh * P + h * P + p]!;
      for (let i = 0; i < Lc; i++) {
        let intra = 0;
        for (let j = 0; j <= i; j++) intra += Math.exp(cs[i]! - cs[j]!) * cb[i * Lc + j]! * delta[j]! * xAt(j);
        const co = (t0 + i) * G * N + g * N;
        let carried = 0;
        for (let n = 0; n < N; n++) carried += state[so + n]! * C[co + n]!;
        y[(t0 + i) * nh * P + h * P + p] = intra + Math.exp(cs[i]!) * carried + D[h]! * xAt(i);
      }
      for (let n = 0; n < N; n++) {
        let acc = Math.exp(csLast) * state[so + n]!;
        for (let j = 0; j < Lc; j++) acc += Math.exp(csLast - cs[j]!) * delta[j]! * xAt(j) * B[(t0 + j) * G * N + g * N + n]!;
        state[so + n] = acc;
      }
    }
  }
}
