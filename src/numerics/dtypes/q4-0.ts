/**
 * ggml Q4_0: 4-bit symmetric block quantization (GGML_TYPE_Q4_0 = 2).
 *
 * Block of 32 elements = 18 bytes, blocks back to back:
 *   bytes 0..1   d   scale, f16 little-endian
 *   bytes 2..17  qs  16 bytes of nibbles; byte j holds element j in its low nibble and element j+16 in its
 *                    high nibble (split halves, not adjacent pairs)
 * Dequant: x = (nibble - 8) · d, with d the stored (f16-rounded) scale, so codes cover -8d .. 7d.
 *
 * Quantization mirrors ggml's `quantize_row_q4_0_ref` (ggml/src/ggml-quants.c), f32 arithmetic throughout:
 *   max = the element with the largest |x| (first one on ties), sign kept
 *   d = max / -8;  id = d ? 1/d : 0;  store f16(d)
 *   nibble = min(15, (int8)(x · id + 8.5))          (the cast truncates toward zero)
 * The largest-magnitude element maps to code 0 (exactly -8·d = max); an element of the opposite sign and
 * magnitude ≥ 15/16 of it would need code 16 and is clamped to 15 (see q4-0.test.ts for the error bound).
 */
import { TandemError } from '../../errors.js';
import { f16ToF32, f32ToF16 } from './f16.js';

export const Q4_0_BLOCK = 32;
export const Q4_0_BLOCK_BYTES = 18;

const fround = Math.fround;

function checkCount(fn: string, count: number): number {
  if (!Number.isInteger(count) || count < 0 || count % Q4_0_BLOCK !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: Q4_0 needs a multiple of ${Q4_0_BLOCK} elements, got ${count}`);
  }
  return count / Q4_0_BLOCK;
}

/** ggml's `MIN(15, (int8_t)(v + 8.5f))` with `v = x · id` already rounded to f32. */
function code(v: number): number {
  return Math.min(15, Math.trunc(fround(v + 8.5)));
}

/** Quantizes `src` (length a multiple of 32) to Q4_0 blocks. */
export function quantizeQ4_0(src: Float32Array): Uint8Array {
  const nBlocks = checkCount('quantizeQ4_0', src.length);
  const out = new Uint8Array(nBlocks * Q4_0_BLOCK_BYTES);
  const half = Q4_0_BLOCK / 2;
  for (let b = 0; b < nBlocks; b++) {
    const x0 = b * Q4_0_BLOCK;
    const o = b * Q4_0_BLOCK_BYTES;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < Q4_0_BLOCK; j++) {
      const v = src[x0 + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    const dBits = f32ToF16(d);
    out[o] = dBits & 0xff;
    out[o + 1] = dBits >>> 8;
    for (let j = 0; j < half; j++) {
      const lo = code(fround(src[x0 + j]! * id));
      const hi = code(fround(src[x0 + half + j]! * id));
      out[o + 2 + j] = lo | (hi << 4);
    }
  }
  return out;
}

/** Dequantizes `count` elements (a multiple of 32) of Q4_0 blocks into `out[outOffset ..]`. */
export function dequantizeQ4_0(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  const nBlocks = checkCount('dequantizeQ4_0', count);
  if (src.length < nBlocks * Q4_0_BLOCK_BYTES || out.length < outOffset + count) {
    throw new TandemError(
      'BAD_ARGUMENT',
      `dequantizeQ4_0: ${count} elements need ${nBlocks * Q4_0_BLOCK_BYTES} bytes (have ${src.length}) and ${outOffset + count} output slots (have ${out.length})`,
    );
  }
  const half = Q4_0_BLOCK / 2;
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q4_0_BLOCK_BYTES;
    const d = f16ToF32(src[o]! | (src[o + 1]! << 8));
    const y0 = outOffset + b * Q4_0_BLOCK;
    for (let j = 0; j < half; j++) {
      const q = src[o + 2 + j]!;
      out[y0 + j] = ((q & 0x0f) - 8) * d;
      out[y0 + half + j] = ((q >>> 4) - 8) * d;
    }
  }
}
