/**
 * The one table of numerical tolerances used by tests. Every numerical test takes its bound from here and prints the
 * max error it measured. Values are absolute unless named otherwise.
 */
export const TOLERANCE = {
  /** |Δ log p| between Tandem (f32 weights) and llama.cpp (F32 weights, F32 KV, flash attention off): issue #2. */
  oracleF32Logprob: 1e-4,
  /** |Δ log p| against the committed golden logprobs (made by llama.cpp). */
  goldenLogprob: 1e-4,
  /** |Δ logit| between chunkings of the same prefill (chunked SSD vs sequential scan differ only in summation order). */
  chunkInvarianceLogit: 1e-4,
  /** |Δ| of the final conv/SSM/KV state between chunkings. */
  chunkInvarianceState: 1e-4,
  /** |Δ| between the chunked SSD scan and the sequential recurrence on random inputs. */
  ssdVsScan: 1e-5,
} as const;

export interface MaxError {
  readonly maxAbs: number;
  readonly index: number;
}

/** Largest |a[i] − b[i]| and where it is (NaN anywhere counts as Infinity). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): MaxError {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let maxAbs = 0;
  let index = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    const dd = Number.isNaN(d) ? Infinity : d;
    if (dd > maxAbs || index < 0) {
      if (dd > maxAbs) maxAbs = dd;
      if (dd >= maxAbs) index = i;
    }
  }
  return { maxAbs, index };
}

export function argmaxOf(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}
