/**
 * IEEE 754 binary16 ("half", F16) <-> f32.
 *
 * Layout of one value: 16 bits, stored little-endian (low byte first) in checkpoints:
 *   bit 15      sign
 *   bits 14..10 exponent, bias 15 (0 = zero/subnormal, 31 = Inf/NaN)
 *   bits 9..0   mantissa (10 stored bits, implicit leading 1 for normals)
 * Value: normal (-1)^s · 2^(e-15) · (1 + m/1024); subnormal (-1)^s · 2^-24 · m.
 * Largest finite 65504 (0x7BFF); smallest normal 2^-14 (0x0400); smallest subnormal 2^-24 (0x0001).
 *
 * Encoding (f32ToF16) first takes the input as an f32 (as ggml's `ggml_fp32_to_fp16` does), then rounds
 * to nearest, ties to even, on the bit pattern: overflow becomes ±Inf, subnormals are rounded correctly,
 * NaN stays NaN (quiet bit set, top payload bits and sign kept). Decoding is exact (every f16 is an f32)
 * and goes through a 65536-entry lookup table.
 */

import { TandemError } from '../../errors.js';

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

function decodeBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** F16_TABLE[bits] = the f32 value of the f16 with that bit pattern. */
const F16_TABLE: Float32Array = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = decodeBits(h);
  return t;
})();

export function f16ToF32(bits: number): number {
  return F16_TABLE[bits & 0xffff]!;
}

export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  const b = scratchU32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : 0x200 | (mant >>> 13)); // Inf, or quiet NaN
  const e = exp - 112; // exponent re-biased for f16 (127 - 15)
  if (e >= 31) return sign | 0x7c00; // too large even before rounding: ±Inf
  if (e <= 0) {
    // f16 subnormal (or zero): value = sig · 2^(e-14) in units of 2^-24, sig the 24-bit significand.
    if (e < -10) return sign; // |x| < 2^-25: rounds to ±0 (2^-25 itself is the tie with 0, which is even)
    const sig = mant | 0x800000;
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rem = sig & ((1 << shift) - 1);
    let q = sig >>> shift;
    if (rem > half || (rem === half && (q & 1) === 1)) q++; // q may carry into 0x400 = smallest normal
    return sign | q;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry may reach 0x7c00 = Inf: correct
  return sign | h;
}

/** Decodes `count` little-endian f16 values from `src` into `out[outOffset ..]`. */
export function decodeF16(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  if (src.length < count * 2 || out.length < outOffset + count) {
    throw new TandemError('BAD_ARGUMENT', `decodeF16: ${count} values need ${count * 2} source bytes (have ${src.length}) and ${outOffset + count} output slots (have ${out.length})`);
  }
  for (let i = 0; i < count; i++) {
    out[outOffset + i] = F16_TABLE[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
  }
}

/** Encodes every value of `src` as little-endian f16 (2 bytes each). */
export function encodeF16(src: Float32Array): Uint8Array {
  const out = new Uint8Array(src.length * 2);
  for (let i = 0; i < src.length; i++) {
    const h = f32ToF16(src[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}
