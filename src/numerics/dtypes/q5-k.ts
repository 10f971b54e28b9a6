/**
 * ggml Q5_K: 5-bit super-block quantization with 6-bit sub-block scales and mins (GGML_TYPE_Q5_K = 13).
 *
 * Super-block of QK_K = 256 elements = 176 bytes (`block_q5_K`, ggml-common.h), blocks back to back:
 *   bytes 0..1     d       super-scale for the sub-block scales, f16 little-endian
 *   bytes 2..3     dmin    super-scale for the sub-block mins, f16 little-endian
 *   bytes 4..15    scales  8 six-bit scales and 8 six-bit mins, packed exactly as in Q4_K (`get_scale_min_k4`,
 *                          see q4-k.ts), one pair per 32-element sub-block
 *   bytes 16..47   qh      the 5th (high) bits: bit 2c of byte l is element 64c + l's, bit 2c+1 is
 *                          element 64c + 32 + l's (c = 0..3, the 64-element chunk)
 *   bytes 48..175  qs      low 4 bits, laid out as Q4_K's qs: byte 32c + l holds element 64c + l in its low
 *                          nibble and element 64c + 32 + l in its high one
 * Dequant (`dequantize_row_q5_K`), f32: x = (f16(d)·sc) · q − (f16(dmin)·m), q = low nibble + 16·high bit ∈ 0..31.
 *
 * Quantization is ggml's `quantize_row_q5_K_ref` (ggml/src/ggml-quants.c), bit for bit: the Q4_K scale and
 * min search (`quantizeScalesMinsK` in q4-k.ts, f32 arithmetic via Math.fround) with nmax 31, rmin −0.5,
 * rdelta 0.1 and nstep 15 in `make_qkx2_quants`, then the codes split into the nibble and bit planes.
 */
import { f16ToF32 } from './f16.js';
import { checkCountK, checkDequantK, getScaleMinK4, QK_K, quantizeScalesMinsK } from './q4-k.js';

export const Q5_K_BLOCK_BYTES = 176;

const fround = Math.fround;

/** Quantizes `src` (length a multiple of 256) to Q5_K blocks, bit-identical to `quantize_row_q5_K_ref`. */
export function quantizeQ5_K(src: Float32Array): Uint8Array {
  const nBlocks = checkCountK('quantizeQ5_K', 'Q5_K', src.length);
  const out = new Uint8Array(nBlocks * Q5_K_BLOCK_BYTES);
  const L = new Uint8Array(QK_K);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q5_K_BLOCK_BYTES;
    quantizeScalesMinsK(src, b * QK_K, 31, -0.5, 15, L, out, o);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const l1 = L[64 * c + l]!;
        const l2 = L[64 * c + 32 + l]!;
        out[o + 16 + l]! |= ((l1 >>> 4) << (2 * c)) | ((l2 >>> 4) << (2 * c + 1));
        out[o + 48 + 32 * c + l] = (l1 & 0xf) | ((l2 & 0xf) << 4);
      }
    }
  }
  return out;
}

/** Dequantizes `count` elements (a multiple of 256) of Q5_K blocks into `out[outOffset ..]`. */
export function dequantizeQ5_K(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  const nBlocks = checkCountK('dequantizeQ5_K', 'Q5_K', count);
  checkDequantK('dequantizeQ5_K', Q5_K_BLOCK_BYTES, nBlocks, src, out, outOffset);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q5_K_BLOCK_BYTES;
    const d = f16ToF32(src[o]! | (src[o + 1]! << 8));
    const dmin = f16ToF32(src[o + 2]! | (src[o + 3]! << 8));
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = getScaleMinK4(2 * c, src, o + 4);
      const [sc2, m2] = getScaleMinK4(2 * c + 1, src, o + 4);
      const d1 = fround(d * sc1);
      const min1 = fround(dmin * m1);
      const d2 = fround(d * sc2);
      const min2 = fround(dmin * m2);
      const q0 = o + 48 + 32 * c;
      const y0 = outOffset + b * QK_K + 64 * c;
      for (let l = 0; l < 32; l++) {
        const q = src[q0 + l]!;
        const h = src[o + 16 + l]! >>> (2 * c);
        out[y0 + l] = fround(d1 * ((q & 0xf) + ((h & 1) << 4))) - min1;
        out[y0 + 32 + l] = fround(d2 * ((q >>> 4) + ((h & 2) << 3))) - min2;
      }
    }
  }
}
