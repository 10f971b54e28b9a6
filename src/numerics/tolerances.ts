/**
 * The one table of numerical tolerances used by tests and by the backend conformance suite. Every numerical test takes its bound from here and prints the
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
  /**
   * Backend conformance suite (src/numerics/conformance), keyed by op, then by format (exact label, else the weight
   * dtype before `+`, else `default`). An element passes when |got − ref| ≤ abs + rel·|ref|. Budgets are for a backend
   * that stores f32 and accumulates in f32 (ref accumulates in f64) on the suite's shapes (≤ 512-long dot products,
   * outputs of magnitude 0.1–10); weight decoding and activation fake-quantization are specified bit-exactly, so every
   * weight format gets the same matmul budget. Real bugs (a wrong nibble order, scale, group or mask) show as ≥ 1e-2.
   * Expert ids, guard sentinels and read-only inputs are compared exactly.
   */
  conformance: {
    matmul: { default: { abs: 1e-4, rel: 1e-4 } },
    embed: { default: { abs: 0, rel: 1e-6 } }, // decode only: f32 products of exact values, at most an ulp apart
    moe: { default: { abs: 1e-4, rel: 1e-4 } }, // route + gathered relu² MLPs + weighted scatter-add
    rmsNorm: { default: { abs: 1e-5, rel: 1e-5 } },
    siluGate: { default: { abs: 1e-6, rel: 1e-5 } },
    relu2: { default: { abs: 0, rel: 1e-6 } },
    addScaled: { default: { abs: 1e-6, rel: 1e-6 } },
    conv1d: { default: { abs: 1e-5, rel: 1e-5 } },
    ssmScan: { default: { abs: 1e-4, rel: 1e-4 } },
    ssdChunkScan: { default: { abs: 1e-4, rel: 1e-4 }, 'vs-ssmScan': { abs: 1e-4, rel: 1e-4 } },
    attention: { default: { abs: 2e-5, rel: 1e-4 }, fp8: { abs: 2e-5, rel: 1e-4 } },
    route: { default: { abs: 1e-6, rel: 1e-5 } }, // the routing weights; ids exact
  },
  /**
   * wasm kernels vs ref (src/numerics/wasm tests): per output, |Δ| ≤ wasmMatmulRel · Σ_c |x_c · W_rc|. The kernels
   * accumulate in f32 (ref in f64) and sum per block before scaling, so the error is a few f32 roundings of the
   * absolute dot product; weight decoding itself is exact (embed must match ref bit for bit).
   */
  wasmMatmulRel: 1e-6,
  wasmEmbed: 0,
  /**
   * native kernels vs ref (src/numerics/native tests), the same measure as wasmMatmulRel: f32 accumulation (FMA) in
   * another order; the int8 kernels sum codes exactly in int32 and round once per block (× d_w·d_x). Embed is exact.
   */
  nativeMatmulRel: 1e-6,
  nativeEmbed: 0,
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
