/**
 * Mamba-2 selective scan, the exact sequential recurrence (spec nemotron-h.md §3.3.4–3.3.5):
 *   Δ = clamp(softplus(dt + dt_bias)),  dA = exp(Δ·A),
 *   S[h] ← dA·S[h] + Δ·x[h] ⊗ B[g(h)],  y[h] = S[h]·C[g(h)] + D[h]·x[h].
 * Reference: state-spaces/mamba `selective_state_update_ref`; ggml `ssm_scan`.
 */
import type { ScanArgs } from '../backend.js';

/** softplus with PyTorch's threshold (v > 20 → v), as ggml does. */
export function softplus(v: number): number {
  return v > 20 ? v : Math.log1p(Math.exp(v));
}

export function deltaOf(a: ScanArgs, t: number, h: number): number {
  const d = softplus(a.dt[t * a.numHeads + h]! + a.dtBias[h]!);
  return Math.min(Math.max(d, a.dtLimit[0]), a.dtLimit[1]);
}

export function ssmScanRef(a: ScanArgs): void {
  const { T, numHeads: nh, headDim: P, stateSize: N, nGroups: G, x, B, C, A, D, state, y } = a;
  const hpg = nh / G;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nh; h++) {
      const g = Math.floor(h / hpg);
      const delta = deltaOf(a, t, h);
      const dA = Math.exp(delta * A[h]!);
      const bo = t * G * N + g * N;
      for (let p = 0; p < P; p++) {
        const xv = x[t * nh * P + h * P + p]!;
        const so = (h * P + p) * N;
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const s = dA * state[so + n]! + delta * xv * B[bo + n]!;
          state[so + n] = s;
          acc += s * C[bo + n]!;
        }
        y[t * nh * P + h * P + p] = acc + D[h]! * xv;
      }
    }
  }
}
