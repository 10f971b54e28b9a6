/**
 * ggml Q8_0: 8-bit symmetric block quantization (GGML_TYPE_Q8_0 = 8).
 *
 * Block of 32 elements = 34 bytes, blocks back to back:
 *   bytes 0..1   d   scale, f16 little-endian
 *   bytes 2..33  qs  32 × int8 (two's complement), qs[j] is element j of the block
 * Dequant: x[j] = d · qs[j], with d the stored (f16-rounded) scale.
 *
 * Quantization mirrors ggml's `quantize_row_q8_0_ref` (ggml/src/ggml-quants.c), f32 arithmetic throughout:
 *   amax = max |x|;  d = amax / 127;  id = d ? 1/d : 0;  store f16(d);  qs[j] = roundf(x[j] · id)
 * `roundf` rounds half away from zero. Note `id` comes from the f32 `d`, but dequant uses the f16-rounded d,
 * so the round-trip error carries that rounding too (see q8-0.test.ts for the exact bound).
 */
import { TandemError } from '../../errors.js';
import { f16ToF32, f32ToF16 } from './f16.js';

export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 34;

const fround = Math.fround;

/** C `roundf`: nearest integer, halfway cases away from zero. */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

function checkCount(fn: string, count: number): number {
  if (!Number.isInteger(count) || count < 0 || count % Q8_0_BLOCK !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: Q8_0 needs a multiple of ${Q8_0_BLOCK} elements, got ${count}`);
  }
  return count / Q8_0_BLOCK;
}

/** Quantizes `src` (length a multiple of 32) to Q8_0 blocks. */
export function quantizeQ8_0(src: Float32Array): Uint8Array {
  const nBlocks = checkCount('quantizeQ8_0', src.length);
  const out = new Uint8Array(nBlocks * Q8_0_BLOCK_BYTES);
  for (let b = 0; b < nBlocks; b++) {
    const x0 = b * Q8_0_BLOCK;
    const o = b * Q8_0_BLOCK_BYTES;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const a = Math.abs(src[x0 + j]!);
      amax = amax > a ? amax : a; // ggml's MAX(amax, fabsf(v)), same NaN behaviour
    }
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    const dBits = f32ToF16(d);
    out[o] = dBits & 0xff;
    out[o + 1] = dBits >>> 8;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      out[o + 2 + j] = roundHalfAway(fround(src[x0 + j]! * id)) & 0xff; // int8 stored as its byte
    }
  }
  return out;
}

/** Dequantizes `count` elements (a multiple of 32) of Q8_0 blocks into `out[outOffset ..]`. */
export function dequantizeQ8_0(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  const nBlocks = checkCount('dequantizeQ8_0', count);
  if (src.length < nBlocks * Q8_0_BLOCK_BYTES || out.length < outOffset + count) {
    throw new TandemError(
      'BAD_ARGUMENT',
      `dequantizeQ8_0: ${count} elements need ${nBlocks * Q8_0_BLOCK_BYTES} bytes (have ${src.length}) and ${outOffset + count} output slots (have ${out.length})`,
    );
  }
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = f16ToF32(src[o]! | (src[o + 1]! << 8));
    const y0 = outOffset + b * Q8_0_BLOCK;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      out[y0 + j] = ((src[o + 2 + j]! << 24) >> 24) * d; // sign-extend the int8
    }
  }
}
