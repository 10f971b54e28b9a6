/**
 * ggml's Q8_0 input quantization (the vec_dot type of Q8_0, Q4_0, MXFP4 and NVFP4 weights), producing codes and
 * scales for the integer kernels instead of a fake-quantized f32 row. Per 32 values, exactly as
 * `q8_0FakeQuant` in ../dtypes/activation-quant.ts: d = f16(amax / 127), q = round-half-even(x · f32(127 / amax)).
 */
import { f16ToF32, f32ToF16 } from '../dtypes/f16.js';

const fr = Math.fround;

function rne(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Rows t0..t1 of x ([T, cols], cols a multiple of 32) → codes [t1 − t0, cols] and scales [t1 − t0, cols / 32]; with
 * `sums`, also the codes' sums per 16 columns [t1 − t0, cols / 16] (the relaxed-SIMD kernels take their offsets out
 * with them).
 */
export function quantizeQ8Input(x: Float32Array, t0: number, t1: number, cols: number, codes: Int8Array, scales: Float32Array, sums?: Int32Array): void {
  for (let t = t0; t < t1; t++) {
    for (let b = 0; b < cols; b += 32) {
      const o = t * cols + b;
      const q = (t - t0) * cols + b;
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[o + j]!));
      scales[q / 32] = f16ToF32(f32ToF16(fr(amax / 127)));
      const id = amax !== 0 ? fr(127 / amax) : 0;
      for (let j = 0; j < 32; j++) codes[q + j] = rne(fr(x[o + j]! * id));
      if (sums) {
        let s0 = 0, s1 = 0;
        for (let j = 0; j < 16; j++) {
          s0 += codes[q + j]!;
          s1 += codes[q + 16 + j]!;
        }
        sums[q / 16] = s0;
        sums[q / 16 + 1] = s1;
      }
    }
  }
}
