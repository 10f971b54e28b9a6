/** Full-vocabulary log-probabilities at every position of a token sequence (the external numerical contract). */
import { forward, newState, type Model } from '../model/nemotron-h.js';
import type { SequenceState } from '../model/state.js';
import type { TokenLogprob } from './service.js';

/** log_softmax of one row of logits, in f64. */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

/**
 * Row i = log p(next token | tokens[0..i]). Runs the sequence in chunks of `chunk` tokens through `state`
 * (a fresh one by default).
 */
export function sequenceLogprobs(model: Model, tokens: readonly number[], chunk = 256, state?: SequenceState): Float64Array[] {
  const st = state ?? newState(model);
  const V = model.config.vocabSize;
  const rows: Float64Array[] = [];
  for (let i = 0; i < tokens.length; i += chunk) {
    const part = tokens.slice(i, i + chunk);
    const logits = forward(model, st, part, { logits: 'all' });
    for (let t = 0; t < part.length; t++) rows.push(logSoftmax(logits.subarray(t * V, (t + 1) * V)));
  }
  return rows;
}

/**
 * The log-probability of `token` and the `k` most likely tokens under log_softmax(`logits`) (raw logits: before
 * any penalty or temperature), by value descending, ties to the lowest id.
 */
export function tokenLogprob(logits: Float32Array, token: number, k: number): TokenLogprob {
  const lp = logSoftmax(logits);
  const top: number[] = []; // ids, best first
  for (let i = 0; i < lp.length && k > 0; i++) {
    const x = lp[i]!;
    if (top.length === k && !(x > lp[top[k - 1]!]!)) continue;
    let at = top.length;
    while (at > 0 && x > lp[top[at - 1]!]!) at--; // strict: an equal value keeps the lower id ahead
    top.splice(at, 0, i);
    if (top.length > k) top.pop();
  }
  return { token, logprob: lp[token]!, top: top.map((id) => ({ token: id, logprob: lp[id]! })) };
}
