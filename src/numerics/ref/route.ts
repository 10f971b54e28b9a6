/**
 * MoE routing (spec nemotron-h.md §3.6): s = sigmoid(logits); experts chosen by s + bias (selection only), optionally
 * limited to the best `topkGroup` of `nGroup` groups (group score = sum of its top-2 biased scores; other groups masked);
 * weights = unbiased s of the chosen experts, divided by their sum when normTopK, times `scale`.
 * Reference: llama.cpp `build_moe_ffn` (gating SIGMOID); HF `NemotronHTopkRouter`.
 */
import type { RouteArgs } from '../backend.js';

function groupMask(sel: Float64Array, nGroup: number, topkGroup: number): void {
  if (nGroup <= 1) return;
  const per = sel.length / nGroup;
  const groupScores = Array.from({ length: nGroup }, (_, g) => {
    const vals = Array.from(sel.subarray(g * per, (g + 1) * per)).sort((x, y) => y - x);
    return { g, score: vals[0]! + (vals[1] ?? 0) };
  });
  groupScores.sort((x, y) => y.score - x.score || x.g - y.g);
  for (const { g } of groupScores.slice(topkGroup)) sel.fill(-Infinity, g * per, (g + 1) * per);
}

export function routeRef(a: RouteArgs): void {
  const { T, numExperts: E, topK: k, logits, bias, ids, weights } = a;
  const s = new Float64Array(E);
  const sel = new Float64Array(E);
  for (let t = 0; t < T; t++) {
    for (let e = 0; e < E; e++) {
      s[e] = 1 / (1 + Math.exp(-logits[t * E + e]!));
      sel[e] = s[e]! + bias[e]!;
    }
    groupMask(sel, a.nGroup, a.topkGroup);
    const order = Array.from({ length: E }, (_, e) => e).sort((x, y) => sel[y]! - sel[x]! || x - y);
    let sum = 0;
    for (let r = 0; r < k; r++) sum += s[order[r]!]!;
    const norm = a.normTopK ? 1 / Math.max(sum, 6.103515625e-5) : 1;
    for (let r = 0; r < k; r++) {
      const e = order[r]!;
      ids[t * k + r] = e;
      weights[t * k + r] = s[e]! * norm * a.scale;
    }
  }
}
