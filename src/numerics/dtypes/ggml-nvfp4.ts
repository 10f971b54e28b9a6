/**
 * ggml NVFP4 (GGML_TYPE_NVFP4 = 40): NVFP4 as llama.cpp stores it — E2M1 elements with a UE4M3 scale per 16, but
 * no per-tensor FP32 scale inside the block (converted ModelOpt checkpoints carry `weight_scale_2` as a separate
 * tensor applied by a multiply; this file does not see it).
 *
 * Super-block of 64 elements = 36 bytes, blocks back to back:
 *   bytes 0..3   d    four UE4M3 scale bytes, one per 16-element sub-block
 *   bytes 4..35  qs   32 bytes; sub-block s owns bytes 4 + 8s .. 4 + 8s + 7, and inside it byte j holds element j
 *                     (low nibble) and element j + 8 (high nibble) — split-half order per 16
 * Dequant: x = kvalues[nibble] · ue4m3_half(d[s]), kvalues = the E2M1 values doubled (./ggml-mxfp4.ts) and
 * `ggml_ue4m3_to_fp32` returning half the UE4M3 value: bits 6..3 exponent (bias 7), bits 2..0 mantissa, bit 7
 * ignored; 0x00 and 0x7F decode to 0 (0xFF is 240: only exactly 0x7F is treated as NaN-then-zero).
 *
 * Quantization mirrors `quantize_row_nvfp4_ref` (ggml/src/ggml-quants.c), FP32 arithmetic, per 16-element sub-block:
 *   amax = max |x| (NaN skipped);  ue = ggml_fp32_to_ue4m3(amax / 6);  d = ue4m3_half(ue)
 *   code = best_index_mxfp4(x, d)   (first minimum: ties to the smaller magnitude, negatives rounding to 0 → code 0)
 * `ggml_fp32_to_ue4m3(x)` (ggml-impl.h) is NOT an RNE E4M3 cast:
 *   x ≤ 0 or NaN → 0; x clamped to 448;
 *   x < 2^-6 (subnormal): man = (int)(x · 512 + 0.5) (round half up), at most 7 — so [7.5·2^-9, 2^-6) gives 7, not 8;
 *   else mantissa = top 3 FP32 mantissa bits + the 4th (round half up, carrying into the exponent);
 *   any result in the top binade (exponent field 15, i.e. x ≥ 256, or x rounding up to 256) → 0x7E = 448.
 * So amax/6 in [240, 256) rounds to 0x77 (240) or, from the half-way point 248, to 0x7E (448), and every amax/6 in
 * [256, 448] becomes 448: those blocks are coded against a scale up to 1.75× too large (coarser, never clipped).
 */
import { TandemError } from '../../errors.js';
import { GGML_KVALUES_FP4, ggmlBestIndexFp4 } from './ggml-mxfp4.js';

export const GGML_NVFP4_BLOCK = 64;
export const GGML_NVFP4_BLOCK_BYTES = 36;
const SUB = 16;

const fround = Math.fround;
const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/** `ggml_ue4m3_to_fp32`: half the UE4M3 value of a byte (0x00 and 0x7F → 0, bit 7 ignored otherwise). */
export function ggmlUe4m3Half(x: number): number {
  const b = x & 0xff;
  if (b === 0 || b === 0x7f) return 0;
  const exp = (b >>> 3) & 0xf;
  const man = b & 7;
  const raw = exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
  return raw * 0.5;
}

const UE4M3_HALF = new Float32Array(256).map((_, b) => ggmlUe4m3Half(b));

/** `ggml_fp32_to_ue4m3`: ggml's own FP32 → UE4M3 byte (see the header for how it differs from RNE). */
export function ggmlF32ToUe4m3(x: number): number {
  let v = fround(x);
  if (!(v > 0)) return 0;
  if (v > 448) v = 448;
  scratchF[0] = v;
  const bits = scratchU[0]!;
  const fp32Exp = ((bits >>> 23) & 0xff) - 127;
  const fp32Man = (bits >>> 20) & 7;
  let exp = fp32Exp + 7;
  if (exp <= 0) {
    const man = Math.trunc(fround(fround(v * 512) + 0.5));
    if (man < 1) return 0;
    return Math.min(man, 7);
  }
  if (exp >= 15) return 0x7e;
  let man = fp32Man + ((bits >>> 19) & 1);
  if (man > 7) {
    man = 0;
    exp++;
    if (exp >= 15) return 0x7e;
  }
  return (exp << 3) | man;
}

function checkCount(fn: string, count: number): number {
  if (!Number.isInteger(count) || count < 0 || count % GGML_NVFP4_BLOCK !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: ggml NVFP4 needs a multiple of ${GGML_NVFP4_BLOCK} elements, got ${count}`);
  }
  return count / GGML_NVFP4_BLOCK;
}

/** Quantizes `src` (length a multiple of 64) to ggml NVFP4 blocks, byte for byte as `quantize_row_nvfp4_ref`. */
export function quantizeGgmlNvfp4(src: Float32Array): Uint8Array {
  const nBlocks = checkCount('quantizeGgmlNvfp4', src.length);
  const out = new Uint8Array(nBlocks * GGML_NVFP4_BLOCK_BYTES);
  const half = SUB / 2;
  for (let b = 0; b < nBlocks; b++) {
    const o = b * GGML_NVFP4_BLOCK_BYTES;
    for (let s = 0; s < GGML_NVFP4_BLOCK / SUB; s++) {
      const x0 = b * GGML_NVFP4_BLOCK + s * SUB;
      let amax = 0;
      for (let j = 0; j < SUB; j++) {
        const a = Math.abs(src[x0 + j]!);
        if (amax < a) amax = a;
      }
      const ue = ggmlF32ToUe4m3(fround(amax / 6));
      out[o + s] = ue;
      const d = UE4M3_HALF[ue]!;
      for (let j = 0; j < half; j++) {
        out[o + 4 + s * half + j] = ggmlBestIndexFp4(src[x0 + j]!, d) | (ggmlBestIndexFp4(src[x0 + half + j]!, d) << 4);
      }
    }
  }
  return out;
}

/** Dequantizes `count` elements (a multiple of 64) of ggml NVFP4 blocks into `out[outOffset ..]`, as `dequantize_row_nvfp4`. */
export function dequantizeGgmlNvfp4(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  const nBlocks = checkCount('dequantizeGgmlNvfp4', count);
  if (src.length < nBlocks * GGML_NVFP4_BLOCK_BYTES || out.length < outOffset + count) {
    throw new TandemError(
      'BAD_ARGUMENT',
      `dequantizeGgmlNvfp4: ${count} elements need ${nBlocks * GGML_NVFP4_BLOCK_BYTES} bytes (have ${src.length}) and ${outOffset + count} output slots (have ${out.length})`,
    );
  }
  const half = SUB / 2;
  for (let b = 0; b < nBlocks; b++) {
    const o = b * GGML_NVFP4_BLOCK_BYTES;
    for (let s = 0; s < GGML_NVFP4_BLOCK / SUB; s++) {
      const d = UE4M3_HALF[src[o + s]!]!;
      const y0 = outOffset + b * GGML_NVFP4_BLOCK + s * SUB;
      for (let j = 0; j < half; j++) {
        const q = src[o + 4 + s * half + j]!;
        out[y0 + j] = GGML_KVALUES_FP4[q & 0x0f]! * d;
        out[y0 + half + j] = GGML_KVALUES_FP4[q >>> 4]! * d;
      }
    }
  }
}
