/**
 * Self-attention (`*`), spec nemotron-h.md §3.4: GQA, causal, NO positional encoding, scale 1/sqrt(dh), no biases.
 * Reference: HF `NemotronHAttention`; llama.cpp `build_attn` in `nemotron-h.cpp`.
 *
 *   q = a·Wqᵀ [T, nq·dh];  k = a·Wkᵀ, v = a·Wvᵀ [T, nkv·dh] → appended to this layer's KV cache at pos0..pos0+T−1
 *   o = softmax(q·kᵀ/sqrt(dh), causal)·v  [T, nq·dh];  out = o·Woᵀ [T, H]
 */
import type { AttentionWeights } from '../../formats/weights.js';
import { reserveKv, type KvState } from '../state.js';
import type { ForwardCtx } from './context.js';

export function attentionForward(ctx: ForwardCtx, il: number, w: AttentionWeights, kv: KvState, a: Float32Array, T: number, out: Float32Array): void {
  const { backend: be, onTensor, pos0 } = ctx;
  const { numHeads: nq, numKvHeads: nkv, headDim: dh } = ctx.cfg.attention;
  const kvDim = nkv * dh;
  const q = new Float32Array(T * nq * dh);
  be.matmul(q, a, T, w.q); //                                                       [T, nq·dh]
  reserveKv(kv, pos0 + T, kvDim);
  be.matmul(kv.k.subarray(pos0 * kvDim, (pos0 + T) * kvDim), a, T, w.k); //       [T, nkv·dh] into the cache
  be.matmul(kv.v.subarray(pos0 * kvDim, (pos0 + T) * kvDim), a, T, w.v);
  const o = new Float32Array(T * nq * dh);
  be.attention({ T, pos0, numHeads: nq, numKvHeads: nkv, headDim: dh, q, k: kv.k, v: kv.v, out: o });
  onTensor?.('attn_out', il, o);
  be.matmul(out, o, T, w.o); //                                                     [T, H]
}
