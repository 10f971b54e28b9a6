/**
 * bfloat16 (BF16) <-> f32.
 *
 * Layout of one value: 16 bits, stored little-endian (low byte first) in checkpoints; they are exactly the
 * upper 16 bits of an f32:
 *   bit 15      sign
 *   bits 14..7  exponent, bias 127 (same range as f32; 0 = zero/subnormal, 255 = Inf/NaN)
 *   bits 6..0   mantissa (7 stored bits)
 * Decoding is exact: f32 bits = bf16 bits << 16.
 * Encoding rounds to nearest, ties to even, on the f32 bit pattern: add 0x7FFF + (bit 16) and keep the top
 * 16 bits. Overflow past the largest finite BF16 (0x7F7F ≈ 3.3895e38) rounds to ±Inf; subnormals round like
 * any other value (no flush to zero). NaN is kept as a quiet NaN (sign and top payload bits kept, bit 6 set)
 * instead of letting the rounding add carry it into Inf.
 */

import { TandemError } from '../../errors.js';

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  const u = scratchU32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40; // NaN: keep it, make it quiet
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff; // sum < 2^32 for every non-NaN u
}

/** Decodes `count` little-endian bf16 values from `src` into `out[outOffset ..]`. */
export function decodeBf16(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  if (src.length < count * 2 || out.length < outOffset + count) {
    throw new TandemError('BAD_ARGUMENT', `decodeBf16: ${count} values need ${count * 2} source bytes (have ${src.length}) and ${outOffset + count} output slots (have ${out.length})`);
  }
  // Writing the f32 bit patterns through a u32 view of `out` is endianness-neutral (same host order).
  const bitsOut = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, count);
  for (let i = 0; i < count; i++) {
    bitsOut[i] = ((src[2 * i]! | (src[2 * i + 1]! << 8)) << 16) >>> 0;
  }
}

/** Encodes every value of `src` as little-endian bf16 (2 bytes each). */
export function encodeBf16(src: Float32Array): Uint8Array {
  const out = new Uint8Array(src.length * 2);
  for (let i = 0; i < src.length; i++) {
    const h = f32ToBf16(src[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}
