/**
 * OCP microscaling MXFP4 / MXFP8 (OCP MX v1.0): blocks of 32 elements along a row sharing one E8M0 scale
 * X = 2^(byte − 127); v_i = X · P_i. MXFP4 is 4.25 bits per element, MXFP8 8.25.
 *
 * Layout of an `MxMatrix` (rows × cols, cols a multiple of 32):
 *   data         mxfp4: uint8 [rows, cols/2], two E2M1 codes per byte, element 2j in the low nibble of byte j
 *                       (gpt-oss `_blocks` order; ggml's split-half order is ./ggml-mxfp4.ts)
 *                mxfp8: E4M3 bytes [rows, cols]
 *   blockScales  E8M0 [rows, cols/32] (0xFF = NaN makes the block NaN)
 *
 * Quantization (spec §2.2): per block, shared_exp from the block amax by one of the two rules of ./e8m0.ts —
 *   'floor' (OCP text / microxcaling / ggml): floor(log2 amax) − emax_elem (E2M1: 2, E4M3: 8); may clip up to
 *           amax / X < 2^(emax+1) = 8 (E2M1) or 512 (E4M3) onto the element max;
 *   'ceil'  (TE, ModelOpt, triton_kernels): ceil(log2(amax / max_elem)), max_elem = 6 or 448; never clips.
 * then P_i = RNE(x_i / X) saturating (E2M1 ±6, E4M3 ±448). An all-zero block gets byte 0x00 and zero codes.
 * x / X is exact (X is a power of two), so the only rounding is the element's own.
 */
import { TandemError } from '../../errors.js';
import type { MxMatrix } from '../tensor.js';
import { e8m0ToF32, mxScaleCeil, mxScaleFloor } from './e8m0.js';
import { e2m1ToF32, E2M1_MAX, f32ToE2m1 } from './fp4-e2m1.js';
import { e4m3ToF32, E4M3_MAX, f32ToE4m3 } from './fp8.js';
import { packNibbles } from './nvfp4.js';

export const MX_BLOCK = 32;

export type MxFormat = 'mxfp4' | 'mxfp8';
export type MxScaleRule = 'floor' | 'ceil';

const ELEMENT = {
  mxfp4: { emax: 2, max: E2M1_MAX, encode: (v: number) => f32ToE2m1(v) },
  mxfp8: { emax: 8, max: E4M3_MAX, encode: (v: number) => f32ToE4m3(v, true) },
} as const;

function checkShape(fn: string, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0 || cols % MX_BLOCK !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: MX formats need whole rows of a multiple of ${MX_BLOCK} columns, got ${rows}×${cols}`);
  }
}

/** Quantizes a row-major rows × cols FP32 matrix to MXFP4 or MXFP8 with the given scale rule. Non-finite input is rejected. */
export function quantizeMx(
  format: MxFormat,
  src: Float32Array,
  rows: number,
  cols: number,
  rule: MxScaleRule,
): { data: Uint8Array; blockScales: Uint8Array } {
  checkShape('quantizeMx', rows, cols);
  if (src.length !== rows * cols) {
    throw new TandemError('BAD_ARGUMENT', `quantizeMx: a ${rows}×${cols} matrix needs ${rows * cols} values, got ${src.length}`);
  }
  const el = ELEMENT[format];
  const codes = new Uint8Array(src.length);
  const blockScales = new Uint8Array(src.length / MX_BLOCK);
  for (let b = 0; b < blockScales.length; b++) {
    const off = b * MX_BLOCK;
    let amax = 0;
    for (let i = 0; i < MX_BLOCK; i++) amax = Math.max(amax, Math.abs(src[off + i]!));
    if (!Number.isFinite(amax)) throw new TandemError('BAD_ARGUMENT', `quantizeMx: block ${b} holds a non-finite value`);
    const byte = rule === 'floor' ? mxScaleFloor(amax, el.emax) : mxScaleCeil(amax, el.max);
    blockScales[b] = byte;
    const inv = 2 ** (127 - byte); // 1 / X, exact
    for (let i = 0; i < MX_BLOCK; i++) codes[off + i] = el.encode(Math.fround(src[off + i]! * inv));
  }
  return { data: format === 'mxfp4' ? packNibbles(codes, 'pairs') : codes, blockScales };
}

/** Decodes row `row` of an MX matrix (`m.cols` values) into `out[outOffset ..]`. */
export function decodeMxRow(m: MxMatrix, row: number, out: Float32Array, outOffset = 0): void {
  checkShape('decodeMxRow', m.rows, m.cols);
  if (!Number.isInteger(row) || row < 0 || row >= m.rows) {
    throw new TandemError('BAD_ARGUMENT', `decodeMxRow: row ${row} is outside a matrix of ${m.rows} rows`);
  }
  const fp4 = m.dtype === 'mxfp4';
  const rowBytes = fp4 ? m.cols / 2 : m.cols;
  const nb = m.cols / MX_BLOCK;
  if (m.data.length < m.rows * rowBytes || m.blockScales.length < m.rows * nb || out.length < outOffset + m.cols) {
    throw new TandemError(
      'BAD_ARGUMENT',
      `decodeMxRow: a ${m.rows}×${m.cols} ${m.dtype} matrix needs ${m.rows * rowBytes} data bytes (have ${m.data.length}), ` +
        `${m.rows * nb} block scales (have ${m.blockScales.length}) and ${outOffset + m.cols} output slots (have ${out.length})`,
    );
  }
  const d0 = row * rowBytes;
  for (let b = 0; b < nb; b++) {
    const x = e8m0ToF32(m.blockScales[row * nb + b]!);
    const o = outOffset + b * MX_BLOCK;
    if (fp4) {
      const d = d0 + b * (MX_BLOCK / 2);
      for (let j = 0; j < MX_BLOCK / 2; j++) {
        const byte = m.data[d + j]!;
        out[o + 2 * j] = e2m1ToF32(byte) * x;
        out[o + 2 * j + 1] = e2m1ToF32(byte >>> 4) * x;
      }
    } else {
      const d = d0 + b * MX_BLOCK;
      for (let j = 0; j < MX_BLOCK; j++) out[o + j] = e4m3ToF32(m.data[d + j]!) * x;
    }
  }
}
