/**
 * Causal depthwise conv1d + bias + SiLU (spec nemotron-h.md §3.3.2), SIMD over channels. The caller stages the window
 * win = state ++ x ([K−1+T, Cd], so row t+k is tap k of output row t) and reads the new state back from its last K−1
 * rows. `wt` is [K, Cd] work memory for the transposed taps.
 *   out[t, c] = SiLU(bias[c] + Σ_k weight[c, k] · win[t + k, c])
 */
import { vsilu, ssilu } from './vmath';

export function conv1dSilu(T: i32, Cd: i32, K: i32, win: usize, weight: usize, bias: usize, out: usize, wt: usize): void {
  for (let c = 0; c < Cd; c++) {
    for (let k = 0; k < K; k++) store<f32>(wt + (<usize>(k * Cd + c) << 2), load<f32>(weight + (<usize>(c * K + k) << 2)));
  }
  const row = <usize>Cd << 2;
  for (let t = 0; t < T; t++) {
    const wr = win + <usize>t * row, orow = out + <usize>t * row;
    let c = 0;
    for (; c + 4 <= Cd; c += 4) {
      const o = <usize>c << 2;
      let acc = v128.load(bias + o);
      for (let k = 0; k < K; k++) acc = f32x4.add(acc, f32x4.mul(v128.load(wt + <usize>k * row + o), v128.load(wr + <usize>k * row + o)));
      v128.store(orow + o, vsilu(acc));
    }
    for (; c < Cd; c++) {
      const o = <usize>c << 2;
      let acc = load<f32>(bias + o);
      for (let k = 0; k < K; k++) acc += load<f32>(wt + <usize>k * row + o) * load<f32>(wr + <usize>k * row + o);
      store<f32>(orow + o, ssilu(acc));
    }
  }
}
