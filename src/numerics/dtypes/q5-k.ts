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
import { dequantizeK4, type K4Format, quantizeK4 } from './q4-k.js';

export const Q5_K_BLOCK_BYTES = 176;

const Q5_K: K4Format = { type: 'Q5_K', blockBytes: Q5_K_BLOCK_BYTES, qsAt: 48, qhAt: 16, nmax: 31, rmin: -0.5, nstep: 15 };

/** Quantizes `src` (length a multiple of 256) to Q5_K blocks, bit-identical to `quantize_row_q5_K_ref`. */
export function quantizeQ5_K(src: Float32Array): Uint8Array {
  return quantizeK4(Q5_K, src);
}

/** Dequantizes `count` elements (a multiple of 256) of Q5_K blocks into `out[outOffset ..]`. */
export function dequantizeQ5_K(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  dequantizeK4(Q5_K, src, count, out, outOffset);
}
