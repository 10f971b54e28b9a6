/**
 * Causal grouped-query attention without positional encoding (spec nemotron-h.md §3.4): query head j reads KV head
 * floor(j / (nq/nkv)); scores scaled by 1/sqrt(dh); softmax in f64; key m visible to query at position p iff m ≤ p.
 * FP8 caches are decoded row by row (code · scale of that token and KV head).
 */
import type { AttentionArgs, KvView } from '../backend.js';
import { e4m3ToF32 } from '../dtypes/fp8.js';

/** Decode row `m`, KV head `h` of K or V into `out[0..dh)`. */
function kvRow(kv: KvView, which: 'k' | 'v', m: number, h: number, nkv: number, dh: number, out: Float64Array): void {
  const off = (m * nkv + h) * dh;
  if (kv.format === 'f32') {
    const a = which === 'k' ? kv.k : kv.v;
    for (let d = 0; d < dh; d++) out[d] = a[off + d]!;
    return;
  }
  const a = which === 'k' ? kv.k : kv.v;
  const scale = (which === 'k' ? kv.kScale : kv.vScale)[m * nkv + h]!;
  for (let d = 0; d < dh; d++) out[d] = e4m3ToF32(a[off + d]!) * scale;
}

export function attentionRef(a: AttentionArgs): void {
  const { T, pos0, numHeads: nq, numKvHeads: nkv, headDim: dh, q, kv, out } = a;
  const scale = 1 / Math.sqrt(dh);
  const len = pos0 + T;
  const scores = new Float64Array(len);
  const row = new Float64Array(dh);
  const K = new Float64Array(len * dh); // decoded keys of one KV head
  const V = new Float64Array(len * dh);
  for (let kvh = 0; kvh < nkv; kvh++) {
    for (let m = 0; m < len; m++) {
      kvRow(kv, 'k', m, kvh, nkv, dh, row);
      K.set(row, m * dh);
      kvRow(kv, 'v', m, kvh, nkv, dh, row);
      V.set(row, m * dh);
    }
    for (let j = kvh * (nq / nkv); j < (kvh + 1) * (nq / nkv); j++) {
      for (let t = 0; t < T; t++) head(q, t * nq * dh + j * dh, K, V, pos0 + t + 1, dh, scale, scores, out);
    }
  }
}

/** One query row against keys 0..visible−1 of one KV head; writes dh outputs at `qo`. */
function head(q: Float32Array, qo: number, K: Float64Array, V: Float64Array, visible: number, dh: number, scale: number, scores: Float64Array, out: Float32Array): void {
  let max = -Infinity;
  for (let m = 0; m < visible; m++) {
    let s = 0;
    for (let d = 0; d < dh; d++) s += q[qo + d]! * K[m * dh + d]!;
    scores[m] = s * scale;
    if (scores[m]! > max) max = scores[m]!;
  }
  let sum = 0;
  for (let m = 0; m < visible; m++) {
    scores[m] = Math.exp(scores[m]! - max);
    sum += scores[m]!;
  }
  for (let d = 0; d < dh; d++) {
    let acc = 0;
    for (let m = 0; m < visible; m++) acc += scores[m]! * V[m * dh + d]!;
    out[qo + d] = acc / sum;
  }
}
