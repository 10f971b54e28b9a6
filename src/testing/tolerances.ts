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
  /**
   * |Δ log p| vs llama.cpp for GGUF block weights, with ggml's activation quantization emulated (Q8_0 / Q8_K inputs).
   * Not 1e-4: an activation that lands on the other side of a rounding boundary in llama.cpp (its f32 op order differs
   * from ours in the last ulp) changes an 8-bit code, and the random tiny models amplify it. Measured on the 256-wide
   * fixtures: q4_0 ≤ 1e-5, mxfp4 ≤ 3e-4, q8_0 ≤ 0.04, q4_k ≤ 0.13 (llama.cpp computes Q4_K differently on this CPU,
   * probably in its repacked/AMX kernels; Tandem matches ggml's reference Q4_K / Q8_K bit-exactly).
   * specs/oracle.md: "about 0.1 in log-prob, plus an argmax check" for quantized weights.
   */
  oracleQuantLogprob: { q8_0: 0.1, q4_0: 0.1, mxfp4: 0.1, q4_k: 0.2 },
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
