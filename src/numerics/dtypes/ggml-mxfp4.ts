/**
 * ggml MXFP4 (GGML_TYPE_MXFP4 = 39): OCP MXFP4 as llama.cpp stores it (e.g. gpt-oss GGUFs).
 *
 * Block of 32 elements = 17 bytes, blocks back to back:
 *   byte 0       e    E8M0 scale byte
 *   bytes 1..16  qs   16 bytes of E2M1 nibbles in split-half order: byte j holds element j (low nibble) and
 *                     element j + 16 (high nibble)
 * Dequant: x = kvalues[nibble] · 2^(e − 128), where kvalues = {0, 1, 2, 3, 4, 6, 8, 12, 0, −1, −2, −3, −4, −6, −8, −12}
 * are the E2M1 values doubled (so the scale is halved: GGML_E8M0_TO_FP32_HALF). Code 8 decodes to +0, and e = 0xFF
 * is 2^127, not NaN. Products are FP32 (12 · 2^127 overflows to Inf, as in ggml).
 *
 * Quantization mirrors `quantize_row_mxfp4_ref` (ggml/src/ggml-quants.c), FP32 arithmetic:
 *   amax = max |x| over the block (NaN elements are skipped by its `amax < |x|` test)
 *   e    = amax > 0 ? (uint8) (floorf(log2f(amax)) − 2 + 127) : 0      (the OCP floor rule)
 *   code = best_index_mxfp4(x, 2^(e − 128)): the first i minimising |kvalues[i] · d − x| (strict <), so exact ties
 *          go to the smaller magnitude and negative values that round to 0 get code 0, not 8.
 * log2f is emulated as the FP32 rounding of the exact log2, which (unlike floor(log2 amax) on the bits) can round an
 * amax within an ulp below a power of two up onto it; ggml's floor then picks the larger exponent there, and so do we.
 * For amax < 2^-125 the float → uint8 cast is undefined in C; x86 builds truncate to int32 and keep the low byte
 * (e.g. e = 0xFF for amax in [2^-126, 2^-125)), and so do we.
 */
import { TandemError } from '../../errors.js';

export const GGML_MXFP4_BLOCK = 32;
export const GGML_MXFP4_BLOCK_BYTES = 17;

/** ggml's `kvalues_mxfp4`: E2M1 values doubled, by code. */
export const GGML_KVALUES_FP4: readonly number[] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

const fround = Math.fround;

/** ggml's `best_index_mxfp4(x, e)`: the first code whose doubled value times `d` is nearest to x, in FP32. */
export function ggmlBestIndexFp4(xIn: number, d: number): number {
  const x = fround(xIn);
  let best = 0;
  let bestErr = Math.abs(fround(fround(GGML_KVALUES_FP4[0]! * d) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(fround(fround(GGML_KVALUES_FP4[i]! * d) - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

/** C's `(uint8_t) v` for a float as x86 compilers emit it: truncate to int32 (out of range → INT_MIN), keep the low byte. */
function toUint8(v: number): number {
  if (!(Math.abs(v) < 2 ** 31)) return 0;
  return Math.trunc(v) & 0xff;
}

/** The ggml E8M0 byte of a block amax: (uint8) (floorf(log2f(amax)) − 2 + 127), 0 for amax ≤ 0. */
export function ggmlMxfp4Exponent(amax: number): number {
  const a = fround(amax);
  return a > 0 ? toUint8(Math.floor(fround(Math.log2(a))) - 2 + 127) : 0;
}

/** GGML_E8M0_TO_FP32_HALF: 2^(e − 128) for every byte (ggml does not treat 0xFF as NaN). */
export function ggmlE8m0Half(e: number): number {
  return 2 ** ((e & 0xff) - 128);
}

function checkCount(fn: string, count: number): number {
  if (!Number.isInteger(count) || count < 0 || count % GGML_MXFP4_BLOCK !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: ggml MXFP4 needs a multiple of ${GGML_MXFP4_BLOCK} elements, got ${count}`);
  }
  return count / GGML_MXFP4_BLOCK;
}

/** Quantizes `src` (length a multiple of 32) to ggml MXFP4 blocks, byte for byte as `quantize_row_mxfp4_ref`. */
export function quantizeGgmlMxfp4(src: Float32Array): Uint8Array {
  const nBlocks = checkCount('quantizeGgmlMxfp4', src.length);
  const out = new Uint8Array(nBlocks * GGML_MXFP4_BLOCK_BYTES);
  const half = GGML_MXFP4_BLOCK / 2;
  for (let b = 0; b < nBlocks; b++) {
    const x0 = b * GGML_MXFP4_BLOCK;
    const o = b * GGML_MXFP4_BLOCK_BYTES;
    let amax = 0;
    for (let j = 0; j < GGML_MXFP4_BLOCK; j++) {
      const a = Math.abs(src[x0 + j]!);
      if (amax < a) amax = a;
    }
    const e = ggmlMxfp4Exponent(amax);
    const d = ggmlE8m0Half(e);
    out[o] = e;
    for (let j = 0; j < half; j++) {
      out[o + 1 + j] = ggmlBestIndexFp4(src[x0 + j]!, d) | (ggmlBestIndexFp4(src[x0 + half + j]!, d) << 4);
    }
  }
  return out;
}

/** Dequantizes `count` elements (a multiple of 32) of ggml MXFP4 blocks into `out[outOffset ..]`, as `dequantize_row_mxfp4`. */
export function dequantizeGgmlMxfp4(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  const nBlocks = checkCount('dequantizeGgmlMxfp4', count);
  if (src.length < nBlocks * GGML_MXFP4_BLOCK_BYTES || out.length < outOffset + count) {
    throw new TandemError(
      'BAD_ARGUMENT',
      `dequantizeGgmlMxfp4: ${count} elements need ${nBlocks * GGML_MXFP4_BLOCK_BYTES} bytes (have ${src.length}) and ${outOffset + count} output slots (have ${out.length})`,
    );
  }
  const half = GGML_MXFP4_BLOCK / 2;
  for (let b = 0; b < nBlocks; b++) {
    const o = b * GGML_MXFP4_BLOCK_BYTES;
    const d = ggmlE8m0Half(src[o]!);
    const y0 = outOffset + b * GGML_MXFP4_BLOCK;
    for (let j = 0; j < half; j++) {
      const q = src[o + 1 + j]!;
      out[y0 + j] = GGML_KVALUES_FP4[q & 0x0f]! * d;
      out[y0 + half + j] = GGML_KVALUES_FP4[q >>> 4]! * d;
    }
  }
}
