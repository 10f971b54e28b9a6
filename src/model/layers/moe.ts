/**
 * Mixture of experts (`E`), spec nemotron-h.md §3.6. Reference: HF `NemotronHMOE`, llama.cpp `build_moe_ffn`.
 *
 *   logits = a·routerᵀ [T, E];  (ids, w) = route(sigmoid(logits), bias for selection only, top-k, renorm, × scale)
 *   u      = latentDown(a) if LatentMoE else a                          [T, ℓ]
 *   routed = Σ_r w_r · down_{ids_r}(ReLU(up_{ids_r}(u))²)               [T, ℓ] → latentUp → [T, H]
 *   out    = routed + shared_down(ReLU(shared_up(a))²)                   [T, H]
 * Experts run on the tokens routed to them (gather → expert MLP → weighted scatter-add).
 */
import type { MoeWeights } from '../../formats/weights.js';
import type { ForwardCtx } from './context.js';
import { relu2Mlp } from './mlp.js';

export function moeForward(ctx: ForwardCtx, il: number, w: MoeWeights, a: Float32Array, T: number, out: Float32Array): void {
  const { backend: be, cfg, onTensor } = ctx;
  const m = cfg.moe!;
  const H = cfg.hiddenSize;
  const L = m.latentSize;
  const logits = new Float32Array(T * m.numExperts);
  be.matmul(logits, a, T, w.router); //                                             [T, E]
  onTensor?.('moe_router_logits', il, logits);
  const ids = new Int32Array(T * m.topK);
  const weights = new Float32Array(T * m.topK);
  be.route({ T, numExperts: m.numExperts, topK: m.topK, nGroup: m.nGroup, topkGroup: m.topkGroup, normTopK: m.normTopK, scale: m.routedScale, logits, bias: w.routerBias, ids, weights });
  let u = a;
  if (w.latentDown) {
    u = new Float32Array(T * L);
    be.matmul(u, a, T, w.latentDown); //                                            [T, ℓ]
  }
  const routed = new Float32Array(T * L);
  for (let e = 0; e < m.numExperts; e++) {
    const picks: { t: number; weight: number }[] = [];
    for (let i = 0; i < T * m.topK; i++) if (ids[i] === e) picks.push({ t: Math.floor(i / m.topK), weight: weights[i]! });
    if (picks.length === 0) continue;
    const xs = new Float32Array(picks.length * L);
    picks.forEach((p, r) => xs.set(u.subarray(p.t * L, (p.t + 1) * L), r * L)); //  gather [n, ℓ]
    const ys = new Float32Array(picks.length * L);
    relu2Mlp(ctx, w.experts[e]!.up, w.experts[e]!.down, xs, picks.length, ys);
    picks.forEach((p, r) => be.addScaled(routed.subarray(p.t * L, (p.t + 1) * L), ys.subarray(r * L, (r + 1) * L), L, p.weight));
  }
  if (w.latentUp) be.matmul(out, routed, T, w.latentUp); //                         [T, H]
  else out.set(routed);
  const shared = new Float32Array(T * H);
  relu2Mlp(ctx, w.sharedUp, w.sharedDown, a, T, shared);
  be.addScaled(out, shared, T * H, 1);
  onTensor?.('moe_out', il, out);
}
