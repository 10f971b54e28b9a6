/**
 * How real low-precision matmul kernels quantize their INPUT activations, as in-place quantize→dequantize of one row,
 * so the reference backend can emulate them (`ActivationQuant` on a Matrix):
 *   q8_0  ggml's x86 `quantize_row_q8_0` (the vec_dot type of Q8_0, Q4_0, MXFP4, NVFP4 weights): per 32 values
 *         d = amax/127 stored as f16, q = round-half-even(x · (127/amax)) — note the f32 multiplier, not 1/f16(d).
 *   q8_k  ggml's `quantize_row_q8_K_ref` (vec_dot type of the K-quants): per 256 values, max = the value of largest
 *         magnitude (signed), iscale = −127/max, q = min(127, nearest_int(iscale · x)), d = 1/iscale (f32).
 *   f16 / bf16  the vec_dot types of F16 / BF16 weights: round the input to that type.
 *   fp8 / nvfp4 W8A8 / W4A4 (ModelOpt, TensorRT-LLM): see fp8.ts and nvfp4.ts.
 */
import type { ActivationQuant } from '../tensor.js';
import { f16ToF32, f32ToF16 } from './f16.js';
import { bf16ToF32, f32ToBf16 } from './bf16.js';
import { fp8FakeQuant } from './fp8.js';
import { nvfp4FakeQuant } from './nvfp4.js';

const fr = Math.fround;

/** Round half to even (as `_mm256_round_ps(_MM_ROUND_NEAREST)` and ggml's `nearest_int`). */
function rne(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function q8_0FakeQuant(x: Float32Array, n: number): void {
  for (let b = 0; b < n; b += 32) {
    let amax = 0;
    for (let j = b; j < b + 32; j++) amax = Math.max(amax, Math.abs(x[j]!));
    const d = f16ToF32(f32ToF16(fr(amax / 127)));
    const id = amax !== 0 ? fr(127 / amax) : 0;
    for (let j = b; j < b + 32; j++) x[j] = d * rne(fr(x[j]! * id));
  }
}

export function q8KFakeQuant(x: Float32Array, n: number): void {
  for (let b = 0; b < n; b += 256) {
    let amax = 0;
    let max = 0;
    for (let j = b; j < b + 256; j++) {
      if (Math.abs(x[j]!) > amax) {
        amax = Math.abs(x[j]!);
        max = x[j]!;
      }
    }
    if (amax === 0) {
      x.fill(0, b, b + 256);
      continue;
    }
    const iscale = fr(-127 / max);
    const d = fr(1 / iscale);
    for (let j = b; j < b + 256; j++) x[j] = d * Math.min(127, rne(fr(iscale * x[j]!)));
  }
}

/** Quantize→dequantize one input row of `n` values in place, as the kernel for `act` would see it. */
export function fakeQuantRow(row: Float32Array, n: number, act: ActivationQuant): void {
  switch (act.format) {
    case 'fp8':
      return fp8FakeQuant(row, n, act.scale);
    case 'nvfp4':
      return nvfp4FakeQuant(row, n, act.scale);
    case 'q8_0':
      return q8_0FakeQuant(row, n);
    case 'q8_k':
      return q8KFakeQuant(row, n);
    case 'f16':
      for (let i = 0; i < n; i++) row[i] = f16ToF32(f32ToF16(row[i]!));
      return;
    case 'bf16':
      for (let i = 0; i < n; i++) row[i] = bf16ToF32(f32ToBf16(row[i]!));
      return;
  }
}
