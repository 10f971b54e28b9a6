/** Causal depthwise conv1d + bias + SiLU with a rolling K−1 row state (spec nemotron-h.md §3.3.2, §3.3.9). */
import type { ConvArgs } from '../backend.js';
import { silu } from './norm.js';

export function conv1dRef(a: ConvArgs): void {
  const { T, channels: Cd, kernel: K, x, weight, bias, state, out } = a;
  const H = K - 1; // history rows
  // window row j ∈ [0, H+T): j < H → state[j], else x[j − H]
  const at = (j: number, c: number): number => (j < H ? state[j * Cd + c]! : x[(j - H) * Cd + c]!);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < Cd; c++) {
      let acc = bias[c]!;
      for (let k = 0; k < K; k++) acc += weight[c * K + k]! * at(t + k, c);
      out[t * Cd + c] = silu(acc);
    }
  }
  // new state = last H rows of (state ++ x)
  const next = new Float32Array(H * Cd);
  for (let j = 0; j < H; j++) for (let c = 0; c < Cd; c++) next[j * Cd + c] = at(T + j, c);
  state.set(next);
}
