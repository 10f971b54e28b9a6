/**
 * Causal grouped-query attention without positional encoding (spec nemotron-h.md §3.4): query head j reads KV head
 * floor(j / (nq/nkv)); scores scaled by 1/sqrt(dh); softmax in f64; key m visible to query at position p iff m ≤ p.
 */
import type { AttentionArgs } from '../backend.js';

export function attentionRef(a: AttentionArgs): void {
  const { T, pos0, numHeads: nq, numKvHeads: nkv, headDim: dh, q, k, v, out } = a;
  const scale = 1 / Math.sqrt(dh);
  const kvDim = nkv * dh;
  const scores = new Float64Array(pos0 + T);
  for (let t = 0; t < T; t++) {
    const len = pos0 + t + 1;
    for (let j = 0; j < nq; j++) {
      const kvh = Math.floor(j / (nq / nkv));
      const qo = t * nq * dh + j * dh;
      let max = -Infinity;
      for (let m = 0; m < len; m++) {
        const ko = m * kvDim + kvh * dh;
        let s = 0;
        for (let d = 0; d < dh; d++) s += q[qo + d]! * k[ko + d]!;
        scores[m] = s * scale;
        if (scores[m]! > max) max = scores[m]!;
      }
      let sum = 0;
      for (let m = 0; m < len; m++) {
        scores[m] = Math.exp(scores[m]! - max);
        sum += scores[m]!;
      }
      for (let d = 0; d < dh; d++) {
        let acc = 0;
        for (let m = 0; m < len; m++) acc += scores[m]! * v[m * kvDim + kvh * dh + d]!;
        out[qo + d] = acc / sum;
      }
    }
  }
}
