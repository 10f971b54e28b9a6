/**
 * Self-attention (`*`), spec nemotron-h.md §3.4: GQA, causal, NO positional encoding, scale 1/sqrt(dh), no biases.
 * Reference: HF `NemotronHAttention`; llama.cpp `build_attn` in `nemotron-h.cpp`.
 *
 *   q = a·Wqᵀ [T, nq·dh];  k = a·Wkᵀ, v = a·Wvᵀ [T, nkv·dh] → appended to this layer's KV cache at pos0..pos0+T−1
 *   o = softmax(q·kᵀ/sqrt(dh), causal)·v  [T, nq·dh];  out = o·Woᵀ [T, H]
 * An FP8 cache stores each new row per KV head as E4M3 codes with decode scale amax/448 (dynamic, per token and head).
 */
import type { AttentionWeights } from '../../formats/weights.js';
import { f32ToE4m3 } from '../../numerics/dtypes/fp8.js';
import { reserveKv, type KvFp8, type KvState } from '../state.js';
import type { ForwardCtx } from './context.js';

/** Store `rows` [T, nkv·dh] (f32) into an FP8 cache starting at token `pos0`. */
function storeFp8(codes: Uint8Array, scales: Float32Array, rows: Float32Array, pos0: number, T: number, nkv: number, dh: number): void {
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nkv; h++) {
      const src = (t * nkv + h) * dh;
      let amax = 0;
      for (let d = 0; d < dh; d++) amax = Math.max(amax, Math.abs(rows[src + d]!));
      const scale = amax > 0 ? amax / 448 : 1;
      scales[(pos0 + t) * nkv + h] = scale;
      const dst = ((pos0 + t) * nkv + h) * dh;
      for (let d = 0; d < dh; d++) codes[dst + d] = f32ToE4m3(rows[src + d]! / scale);
    }
  }
}

function appendKv(ctx: ForwardCtx, w: AttentionWeights, kv: KvState, a: Float32Array, T: number): void {
  const { numKvHeads: nkv, headDim: dh } = ctx.cfg.attention;
  const kvDim = nkv * dh;
  const { pos0, backend: be } = ctx;
  reserveKv(kv, pos0 + T, kvDim, nkv);
  if (kv.format === 'f32') {
    be.matmul(kv.k.subarray(pos0 * kvDim, (pos0 + T) * kvDim), a, T, w.k); //     [T, nkv·dh] into the cache
    be.matmul(kv.v.subarray(pos0 * kvDim, (pos0 + T) * kvDim), a, T, w.v);
    return;
  }
  const rows = new Float32Array(T * kvDim);
  const fp8 = kv as KvFp8;
  be.matmul(rows, a, T, w.k);
  storeFp8(fp8.k, fp8.kScale, rows, pos0, T, nkv, dh);
  be.matmul(rows, a, T, w.v);
  storeFp8(fp8.v, fp8.vScale, rows, pos0, T, nkv, dh);
}

export function attentionForward(ctx: ForwardCtx, il: number, w: AttentionWeights, kv: KvState, a: Float32Array, T: number, out: Float32Array): void {
  const { backend: be, onTensor, pos0 } = ctx;
  const { numHeads: nq, numKvHeads: nkv, headDim: dh } = ctx.cfg.attention;
  const q = new Float32Array(T * nq * dh);
  be.matmul(q, a, T, w.q); //                                                       [T, nq·dh]
  appendKv(ctx, w, kv, a, T);
  const o = new Float32Array(T * nq * dh);
  be.attention({ T, pos0, numHeads: nq, numKvHeads: nkv, headDim: dh, q, kv, out: o });
  onTensor?.('attn_out', il, o);
  be.matmul(out, o, T, w.o); //                                                     [T, H]
}
