/**
 * NVFP4 (NVIDIA Blackwell; ModelOpt `quant_algo: "NVFP4"`): E2M1 elements, an E4M3 decode scale per 16 elements
 * along a row, and one FP32 decode scale per tensor. 4.5 bits per element (+32 bits per tensor).
 *
 * Layout of an `Nvfp4Matrix` (rows × cols, cols a multiple of 16), as ModelOpt exports it:
 *   data         uint8 [rows, cols/2]   two E2M1 codes per byte ("pairs" order): element 2j in bits 3..0 (low
 *                                       nibble) of byte j, element 2j+1 in bits 7..4 — ModelOpt, TE, PyTorch
 *                                       `float4_e2m1fn_x2`, gpt-oss.
 *   blockScales  E4M3 [rows, cols/16]   `weight_scale`, linear (not tensor-core swizzled) layout.
 *   globalScale  FP32                   decode scale `weight_scale_2` = amax / (6 · 448).
 * Dequant: x ≈ e2m1(code) · fp32(fp32(blockScale) · globalScale).
 * ggml keeps the same nibbles in "split" order instead: within a block of n, byte j holds element j (low) and
 * element j + n/2 (high); see `packNibbles`.
 *
 * compressed-tensors / llm-compressor store the reciprocal, an *encode* scale `global_scale = 2688 / amax`;
 * `nvfp4GlobalScaleFromCompressedTensors` converts it.
 *
 * Quantization (spec §2.1) follows ModelOpt's `NVFP4QTensor` arithmetic, all in FP32:
 *   s2  = A / 2688                      A = amax of the whole tensor (A = 0 → s2 = 1; never below 1/FLT_MAX)
 *   pre = a_b / (6 · s2)                a_b = amax of the 16-element block
 *   d_b = e4m3_RNE(min(pre, 448))       stored block scale (the clamp only bites with a caller-given s2)
 *   q_i = e2m1_RNE(x_i / (fp32(d_b) · s2)), saturating at ±6
 * Zero block scales: an all-zero block (pre = 0) stores 0x38 (1.0) with all-zero codes, exactly as ModelOpt, which
 * replaces a zero pre-cast scale by 1.0. A non-zero block whose scale underflows E4M3 (pre < 2^-10, i.e.
 * a_b < ~2.2e-6 · A) stores 0x00; ModelOpt would then divide by zero and store ±6 codes, we store ±0 codes
 * (0x0 / 0x8) instead — both decode to exactly 0, and ours never produces Inf/NaN intermediates.
 * TE computes the same with s_enc = 2688 / A and multiplies by reciprocals; the scale can differ by one FP32 ulp
 * and an element by one code at an exact tie only.
 */
import { TandemError } from '../../errors.js';
import type { Nvfp4Matrix } from '../tensor.js';
import { absMax, e4m3ToF32, E4M3_MAX, f32ToE4m3 } from './fp8.js';
import { e2m1ToF32, f32ToE2m1 } from './fp4-e2m1.js';

export const NVFP4_BLOCK = 16;
/** 6 · 448: the largest E2M1 value times the largest E4M3 value. */
export const NVFP4_RANGE = 2688;

const fround = Math.fround;
const MIN_DECODE_SCALE = fround(1 / 3.4028234663852886e38);
const E4M3_ONE = 0x38;

/** How two 4-bit codes share a byte; see the header. */
export type NibbleOrder = 'pairs' | 'split';

function checkSplit(fn: string, count: number, order: NibbleOrder, block: number): void {
  if (!Number.isInteger(count) || count < 0 || count % 2 !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: needs an even number of codes, got ${count}`);
  }
  if (order === 'split' && (!Number.isInteger(block) || block < 2 || block % 2 !== 0 || count % block !== 0)) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: split order needs an even block size that divides ${count}, got ${block}`);
  }
}

/** Packs 4-bit codes two per byte, in `order` ('split' halves within blocks of `block` codes). */
export function packNibbles(codes: ArrayLike<number>, order: NibbleOrder, block = NVFP4_BLOCK): Uint8Array {
  checkSplit('packNibbles', codes.length, order, block);
  const out = new Uint8Array(codes.length / 2);
  if (order === 'pairs') {
    for (let j = 0; j < out.length; j++) out[j] = (codes[2 * j]! & 0xf) | ((codes[2 * j + 1]! & 0xf) << 4);
    return out;
  }
  const half = block / 2;
  for (let b = 0; b < codes.length; b += block) {
    for (let j = 0; j < half; j++) out[b / 2 + j] = (codes[b + j]! & 0xf) | ((codes[b + half + j]! & 0xf) << 4);
  }
  return out;
}

/** Unpacks `count` 4-bit codes from `bytes`, in `order` ('split' halves within blocks of `block` codes). */
export function unpackNibbles(bytes: Uint8Array, count: number, order: NibbleOrder, block = NVFP4_BLOCK): Uint8Array {
  checkSplit('unpackNibbles', count, order, block);
  if (bytes.length < count / 2) {
    throw new TandemError('BAD_ARGUMENT', `unpackNibbles: ${count} codes need ${count / 2} bytes, got ${bytes.length}`);
  }
  const out = new Uint8Array(count);
  if (order === 'pairs') {
    for (let j = 0; j < count / 2; j++) {
      out[2 * j] = bytes[j]! & 0xf;
      out[2 * j + 1] = bytes[j]! >>> 4;
    }
    return out;
  }
  const half = block / 2;
  for (let b = 0; b < count; b += block) {
    for (let j = 0; j < half; j++) {
      out[b + j] = bytes[b / 2 + j]! & 0xf;
      out[b + half + j] = bytes[b / 2 + j]! >>> 4;
    }
  }
  return out;
}

/** compressed-tensors' encode `global_scale` (= 2688 / amax) → the decode scale (ModelOpt `weight_scale_2`). */
export function nvfp4GlobalScaleFromCompressedTensors(globalScale: number): number {
  if (!(globalScale > 0) || !Number.isFinite(globalScale)) {
    throw new TandemError('BAD_ARGUMENT', `nvfp4GlobalScaleFromCompressedTensors: global_scale must be finite and > 0, got ${globalScale}`);
  }
  return fround(1 / globalScale);
}

/** The tensor decode scale of §2.1 for amax `a`: a / 2688 in FP32 (1 for a = 0, floored at 1/FLT_MAX). */
export function nvfp4DecodeScale(a: number): number {
  if (a === 0) return 1;
  return Math.max(fround(a / NVFP4_RANGE), MIN_DECODE_SCALE);
}

/**
 * Quantizes one 16-element block `src[off ..]` with tensor decode scale `s2` (`sixS2` = fp32(6 · s2)): writes its
 * codes to `codes[off ..]` and returns the E4M3 block-scale byte.
 */
function quantizeBlock(src: ArrayLike<number>, off: number, s2: number, sixS2: number, codes: Uint8Array): number {
  let amax = 0;
  for (let i = 0; i < NVFP4_BLOCK; i++) amax = Math.max(amax, Math.abs(src[off + i]!));
  const pre = fround(amax / sixS2);
  if (pre === 0) {
    for (let i = 0; i < NVFP4_BLOCK; i++) codes[off + i] = f32ToE2m1(src[off + i]!) & 8; // ±0
    return E4M3_ONE;
  }
  const d = f32ToE4m3(Math.min(pre, E4M3_MAX), true);
  const sc = fround(e4m3ToF32(d) * s2);
  for (let i = 0; i < NVFP4_BLOCK; i++) {
    const x = src[off + i]!;
    codes[off + i] = sc === 0 ? f32ToE2m1(x) & 8 : f32ToE2m1(fround(x / sc));
  }
  return d;
}

function checkShape(fn: string, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0 || cols % NVFP4_BLOCK !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: NVFP4 needs whole rows of a multiple of ${NVFP4_BLOCK} columns, got ${rows}×${cols}`);
  }
}

/**
 * Quantizes a row-major rows × cols FP32 matrix to NVFP4 (ModelOpt algorithm, see the header). `opts.globalScale`
 * fixes the tensor decode scale instead of deriving it from the amax. Non-finite input is rejected.
 */
export function quantizeNvfp4(
  src: Float32Array,
  rows: number,
  cols: number,
  opts: { globalScale?: number } = {},
): { data: Uint8Array; blockScales: Uint8Array; globalScale: number } {
  checkShape('quantizeNvfp4', rows, cols);
  if (src.length !== rows * cols) {
    throw new TandemError('BAD_ARGUMENT', `quantizeNvfp4: a ${rows}×${cols} matrix needs ${rows * cols} values, got ${src.length}`);
  }
  const amax = absMax(src, src.length);
  if (!Number.isFinite(amax)) throw new TandemError('BAD_ARGUMENT', 'quantizeNvfp4: the input holds a non-finite value');
  let s2 = nvfp4DecodeScale(amax);
  if (opts.globalScale !== undefined) {
    if (!(opts.globalScale > 0) || !Number.isFinite(opts.globalScale)) {
      throw new TandemError('BAD_ARGUMENT', `quantizeNvfp4: globalScale must be a finite decode scale > 0, got ${opts.globalScale}`);
    }
    s2 = fround(opts.globalScale);
  }
  const sixS2 = fround(6 * s2);
  const codes = new Uint8Array(src.length);
  const blockScales = new Uint8Array(src.length / NVFP4_BLOCK);
  for (let b = 0; b < blockScales.length; b++) blockScales[b] = quantizeBlock(src, b * NVFP4_BLOCK, s2, sixS2, codes);
  return { data: packNibbles(codes, 'pairs'), blockScales, globalScale: s2 };
}

/** Decodes row `row` of an NVFP4 matrix (`m.cols` values) into `out[outOffset ..]`. */
export function decodeNvfp4Row(m: Nvfp4Matrix, row: number, out: Float32Array, outOffset = 0): void {
  checkShape('decodeNvfp4Row', m.rows, m.cols);
  if (!Number.isInteger(row) || row < 0 || row >= m.rows) {
    throw new TandemError('BAD_ARGUMENT', `decodeNvfp4Row: row ${row} is outside a matrix of ${m.rows} rows`);
  }
  const nb = m.cols / NVFP4_BLOCK;
  if (m.data.length < (m.rows * m.cols) / 2 || m.blockScales.length < m.rows * nb || out.length < outOffset + m.cols) {
    throw new TandemError(
      'BAD_ARGUMENT',
      `decodeNvfp4Row: a ${m.rows}×${m.cols} NVFP4 matrix needs ${(m.rows * m.cols) / 2} data bytes (have ${m.data.length}), ` +
        `${m.rows * nb} block scales (have ${m.blockScales.length}) and ${outOffset + m.cols} output slots (have ${out.length})`,
    );
  }
  const d0 = (row * m.cols) / 2;
  for (let b = 0; b < nb; b++) {
    const sc = fround(e4m3ToF32(m.blockScales[row * nb + b]!) * m.globalScale);
    const o = outOffset + b * NVFP4_BLOCK;
    const d = d0 + b * (NVFP4_BLOCK / 2);
    for (let j = 0; j < NVFP4_BLOCK / 2; j++) {
      const byte = m.data[d + j]!;
      out[o + 2 * j] = e2m1ToF32(byte) * sc;
      out[o + 2 * j + 1] = e2m1ToF32(byte >>> 4) * sc;
    }
  }
}

const fakeCodes = new Uint8Array(NVFP4_BLOCK);

/**
 * W4A4 activation emulation: replaces `x[0 .. n)` (n a multiple of 16) in place by NVFP4 quantize → dequantize with
 * dynamic 16-element block scales and tensor decode scale `globalScale` (the calibrated ModelOpt `input_scale`;
 * 0 = dynamic from this row's amax). Values beyond 2688 · globalScale saturate, as in the real kernel.
 */
export function nvfp4FakeQuant(x: Float32Array, n: number, globalScale: number): void {
  if (!Number.isInteger(n) || n < 0 || n > x.length || n % NVFP4_BLOCK !== 0) {
    throw new TandemError('BAD_ARGUMENT', `nvfp4FakeQuant: n = ${n} must be a multiple of ${NVFP4_BLOCK} within 0..${x.length}`);
  }
  if (!(globalScale >= 0) || !Number.isFinite(globalScale)) {
    throw new TandemError('BAD_ARGUMENT', `nvfp4FakeQuant: globalScale must be a finite number ≥ 0 (0 = dynamic), got ${globalScale}`);
  }
  let s2 = fround(globalScale);
  if (s2 === 0) {
    const amax = absMax(x, n);
    if (amax === 0 || !Number.isFinite(amax)) return; // all zeros stay zeros; non-finite activations pass through
    s2 = nvfp4DecodeScale(amax);
  }
  const sixS2 = fround(6 * s2);
  for (let off = 0; off < n; off += NVFP4_BLOCK) {
    const block = x.subarray(off, off + NVFP4_BLOCK);
    const d = quantizeBlock(block, 0, s2, sixS2, fakeCodes);
    const sc = fround(e4m3ToF32(d) * s2);
    for (let i = 0; i < NVFP4_BLOCK; i++) block[i] = e2m1ToF32(fakeCodes[i]!) * sc;
  }
}
