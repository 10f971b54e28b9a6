/**
 * Decode roofline arithmetic. A decode step reads every weight it uses once, so its best possible speed is the memory
 * read bandwidth divided by the weight bytes streamed per token:
 *   - every matrix and vector of every layer, except that a MoE layer reads only its top-k routed experts (plus
 *     router, shared expert and latent projections);
 *   - the LM head in full, and one row of an untied embedding (a tied one is the LM head, counted once).
 * KV-cache and Mamba-state traffic are not counted (small next to the weights at short contexts).
 */
import type { LayerWeights, ModelWeights } from '../formats/weights.js';
import { matrixBytes, type Matrix } from '../numerics/tensor.js';

const mb = (m: Matrix | null): number => (m === null ? 0 : matrixBytes(m));
const vb = (...vs: Float32Array[]): number => vs.reduce((s, v) => s + v.byteLength, 0);

/** Bytes one decode token streams from layer `w`; `topK` is the number of routed experts a token uses. */
export function layerBytesPerToken(w: LayerWeights, topK: number): number {
  switch (w.kind) {
    case 'mamba2':
      return vb(w.norm, w.convW, w.convB, w.dtBias, w.A, w.D, w.gateNorm) + mb(w.inProj) + mb(w.outProj);
    case 'attention':
      return vb(w.norm) + mb(w.q) + mb(w.k) + mb(w.v) + mb(w.o);
    case 'mlp':
      return vb(w.norm) + mb(w.up) + mb(w.down);
    case 'moe': {
      const experts = w.experts.reduce((s, e) => s + mb(e.up) + mb(e.down), 0);
      const routed = w.experts.length === 0 ? 0 : (experts * Math.min(topK, w.experts.length)) / w.experts.length;
      return vb(w.norm, w.routerBias) + mb(w.router) + mb(w.sharedUp) + mb(w.sharedDown) + mb(w.latentDown) + mb(w.latentUp) + routed;
    }
  }
}

/** Weight bytes a single-token decode step reads (see the file comment for what counts). */
export function decodeBytesPerToken(w: ModelWeights, topK: number): number {
  const head = mb(w.lmHead);
  const embedRow = w.embed === w.lmHead ? 0 : mb(w.embed) / w.embed.rows;
  return head + embedRow + vb(w.normF) + w.layers.reduce((s, l) => s + layerBytesPerToken(l, topK), 0);
}

/** Decode tokens/s the memory system allows: bandwidth ÷ bytes per token. */
export function rooflineTokensPerSecond(bytesPerToken: number, readGBs: number): number {
  return (readGBs * 1e9) / bytesPerToken;
}
