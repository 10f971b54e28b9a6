/**
 * How each weight format is repacked for the wasm kernels (assembly/*.ts): the "G4" layout. Rows go in groups of 4
 * (the last group zero-padded); inside a group, per column block, the 4 rows' scales sit right before the 4 rows'
 * codes, so the kernel reads one sequential stream (the block-interleaved layout llama.cpp repacks to):
 *   F32     4 columns,  64 bytes: 4 rows × 4 f32
 *   F16/BF16 8 columns, 64 bytes: 4 rows × 8 halves, lane-paired (c0 c4 c1 c5 c2 c6 c3 c7)
 *   E4M3/E5M2 16 columns, 64 bytes: 4 rows × 16 codes; decode scale per row kept beside (`rowScale`)
 *   Q8_0    32 columns, 136 bytes: 4 × f16 d, 4 × 32 int8
 *   Q4_0    32 columns,  72 bytes: 4 × f16 d, 4 × 16 nibble bytes (ggml order)
 *   FP4X32  32 columns,  68 bytes: 4 E8M0 bytes, 4 × 16 E2M1 nibble bytes (ggml MXFP4 order) — ggml_mxfp4, OCP mxfp4
 *   FP4X64  64 columns, 144 bytes: 16 scale bytes, 4 × 32 E2M1 nibble bytes (ggml NVFP4 order) — ggml_nvfp4, nvfp4
 *   Q4_K / Q5_K / Q6_K  256 columns, 592 / 720 / 840 bytes: super-scales, sub-block scales unpacked to a byte each,
 *           codes in ggml order (assembly/kquants.ts has the byte map)
 * Columns are zero-padded to the block (the kernels see a zero-padded input too). Nothing is dequantized: packed
 * bytes equal the stored bytes (FP4 nibble order and scale placement aside). Formats or contents the kernels do not
 * cover (MXFP8, Inf/NaN codes the bit tricks do not decode) return a fallback reason instead of a plan.
 */
import { DTYPE_LAYOUT, type Matrix, type Nvfp4Matrix, type MxMatrix, type Fp8Matrix } from '../tensor.js';
import { ggmlUe4m3Half } from '../dtypes/ggml-nvfp4.js';
import { ggmlE8m0Half } from '../dtypes/ggml-mxfp4.js';
import { e4m3ToF32 } from '../dtypes/fp8.js';
import { e8m0ToF32 } from '../dtypes/e8m0.js';
import { getScaleMinK4 } from '../dtypes/q4-k.js';

/** Format ids shared with assembly/index.ts. */
export const FORMAT_ID = { F32: 0, F16: 1, BF16: 2, E4M3: 3, E5M2: 4, Q8_0: 5, Q4_0: 6, FP4X32: 7, FP4X64: 8, Q4_K: 9, Q5_K: 10, Q6_K: 11 } as const;
export type FormatId = (typeof FORMAT_ID)[keyof typeof FORMAT_ID];

/** Columns per block of each kernel format (the column padding unit). */
const BLOCK_COLS: Readonly<Record<FormatId, number>> = { 0: 4, 1: 8, 2: 8, 3: 16, 4: 16, 5: 32, 6: 32, 7: 32, 8: 64, 9: 256, 10: 256, 11: 256 };
/** Bytes of one block of 4 rows. */
const BLOCK_BYTES: Readonly<Record<FormatId, number>> = { 0: 64, 1: 64, 2: 64, 3: 64, 4: 64, 5: 136, 6: 72, 7: 68, 8: 144, 9: 592, 10: 720, 11: 840 };

/** 256-entry f32 tables that decode FP4 scale bytes (halved: the kernels' E2M1 values are doubled, as ggml's). */
export type ScaleTable = 'ggmlUe4m3Half' | 'e4m3Half' | 'ggmlE8m0Half' | 'e8m0Half';

export function scaleTable(kind: ScaleTable): Float32Array {
  const f: Record<ScaleTable, (b: number) => number> = {
    ggmlUe4m3Half,
    e4m3Half: (b) => e4m3ToF32(b) * 0.5,
    ggmlE8m0Half,
    e8m0Half: (b) => e8m0ToF32(b) * 0.5,
  };
  return Float32Array.from({ length: 256 }, (_, b) => f[kind](b));
}

/** Everything the backend needs to place, pack and run one matrix. */
export interface PackPlan {
  readonly fmt: FormatId;
  readonly rows: number;
  readonly cols: number;
  readonly colsP: number; // cols padded to the format's block
  readonly groups: number; // ⌈rows / 4⌉
  readonly groupBytes: number;
  readonly rowScale: Float32Array | null; // FP8: decode scale per row (length rows)
  readonly table: ScaleTable | null; // FP4 scale bytes
  readonly gs: number; // FP4X64 tensor decode scale (1 elsewhere)
  /** Writes groups g0..g1 into dst ((g1 − g0)·groupBytes bytes, already zeroed). */
  readonly write: (dst: Uint8Array, g0: number, g1: number) => void;
}

export type PlanResult = { readonly kind: 'plan'; readonly plan: PackPlan } | { readonly kind: 'fallback'; readonly reason: string };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function base(fmt: FormatId, m: Matrix): Omit<PackPlan, 'write' | 'rowScale' | 'table' | 'gs'> {
  const k = BLOCK_COLS[fmt];
  const colsP = Math.ceil(m.cols / k) * k;
  return { fmt, rows: m.rows, cols: m.cols, colsP, groups: Math.ceil(m.rows / 4), groupBytes: (colsP / k) * BLOCK_BYTES[fmt] };
}

/** Source bytes of one row, or null past the last row. */
type RowBytes = (r: number) => Uint8Array | null;

function rowsOf(m: Matrix, bytesPerRow: number): RowBytes {
  return (r) => (r < m.rows ? m.data.subarray(r * bytesPerRow, (r + 1) * bytesPerRow) : null);
}

type Elements = Uint8Array | Uint16Array | Uint32Array;

/** An element view of `bytes` (copied to an aligned buffer first when its offset is not aligned). */
function elements(bytes: Uint8Array, elemBytes: 1 | 2 | 4): Elements {
  if (elemBytes === 1) return bytes;
  const src = bytes.byteOffset % elemBytes === 0 ? bytes : bytes.slice();
  const n = src.byteLength / elemBytes;
  return elemBytes === 2 ? new Uint16Array(src.buffer, src.byteOffset, n) : new Uint32Array(src.buffer, src.byteOffset, n);
}

/**
 * Element-wise formats (F32, halves, FP8): element c of row i of a group goes to element `pos(i, c)` of the group
 * (in units of the element size).
 */
function writeElementwise(p: Omit<PackPlan, 'write' | 'rowScale' | 'table' | 'gs'>, elemBytes: 1 | 2 | 4, row: RowBytes, pos: (i: number, c: number) => number) {
  const perGroup = p.groupBytes / elemBytes;
  const offsets = Int32Array.from({ length: 4 * p.cols }, (_, k) => pos(k % 4, Math.floor(k / 4)));
  return (dstBytes: Uint8Array, g0: number, g1: number): void => {
    const dst = elements(dstBytes, elemBytes); // dst is 64-byte aligned: always a view
    for (let g = g0; g < g1; g++) {
      const go = (g - g0) * perGroup;
      for (let i = 0; i < 4; i++) {
        const bytes = row(g * 4 + i);
        if (!bytes) continue;
        const src = elements(bytes, elemBytes);
        for (let c = 0; c < p.cols; c++) dst[go + offsets[c * 4 + i]!] = src[c]!;
      }
    }
  };
}

/** Pair-lane position of column j of an 8-column half block: c0 c4 c1 c5 c2 c6 c3 c7. */
const HALF_POS = [0, 2, 4, 6, 1, 3, 5, 7] as const;

function planFloat(m: Matrix & { dtype: 'f32' | 'f16' | 'bf16' }): PlanResult {
  if (m.dtype === 'f32') {
    const p = base(FORMAT_ID.F32, m);
    const write = writeElementwise(p, 4, rowsOf(m, m.cols * 4), (i, c) => (c >> 2) * 16 + i * 4 + (c & 3));
    return { kind: 'plan', plan: { ...p, rowScale: null, table: null, gs: 1, write } };
  }
  if (m.dtype === 'f16' && hasHalfSpecials(m.data, m.rows * m.cols)) return { kind: 'fallback', reason: 'f16 weights holding Inf/NaN' };
  const p = base(m.dtype === 'f16' ? FORMAT_ID.F16 : FORMAT_ID.BF16, m);
  const write = writeElementwise(p, 2, rowsOf(m, m.cols * 2), (i, c) => (c >> 3) * 32 + i * 8 + HALF_POS[c & 7]!);
  return { kind: 'plan', plan: { ...p, rowScale: null, table: null, gs: 1, write } };
}

/** Whether any of `count` little-endian f16 values at `data` is Inf or NaN (exponent field 31). */
function hasHalfSpecials(data: Uint8Array, count: number, stride = 2, offset = 0): boolean {
  for (let i = 0; i < count; i++) if ((data[offset + i * stride + 1]! & 0x7c) === 0x7c) return true;
  return false;
}

function planFp8(m: Fp8Matrix): PlanResult {
  const e5 = m.dtype === 'f8_e5m2';
  const n = m.rows * m.cols;
  for (let i = 0; i < n; i++) {
    const b = m.data[i]!;
    if (e5 ? (b & 0x7c) === 0x7c : (b & 0x7f) === 0x7f) return { kind: 'fallback', reason: `${m.dtype} weights holding Inf/NaN codes` };
  }
  if (m.scale.length !== 1 && m.scale.length !== m.rows) return { kind: 'fallback', reason: 'FP8 scale is neither per tensor nor per row' };
  const rowScale = m.scale.length === 1 ? new Float32Array(m.rows).fill(m.scale[0]!) : Float32Array.from(m.scale);
  const p = base(e5 ? FORMAT_ID.E5M2 : FORMAT_ID.E4M3, m);
  const write = writeElementwise(p, 1, rowsOf(m, m.cols), (i, c) => (c >> 4) * 64 + i * 16 + (c & 15));
  return { kind: 'plan', plan: { ...p, rowScale, table: null, gs: 1, write } };
}

/**
 * ggml block formats whose G4 block is [4 scale fields of `sBytes`][4 × `qBytes` codes], copied from source blocks of
 * `srcBytes` = sBytes + qBytes (scale first): Q8_0, Q4_0, ggml MXFP4.
 */
function writeGgmlBlocks(p: Omit<PackPlan, 'write' | 'rowScale' | 'table' | 'gs'>, row: RowBytes, sBytes: number, qBytes: number) {
  const nb = p.colsP / BLOCK_COLS[p.fmt];
  const bb = BLOCK_BYTES[p.fmt];
  const srcBytes = sBytes + qBytes;
  return (dst: Uint8Array, g0: number, g1: number): void => {
    for (let g = g0; g < g1; g++) {
      for (let i = 0; i < 4; i++) {
        const src = row(g * 4 + i);
        if (!src) continue;
        for (let b = 0; b < nb; b++) {
          const o = (g - g0) * p.groupBytes + b * bb;
          const s = b * srcBytes;
          for (let k = 0; k < sBytes; k++) dst[o + i * sBytes + k] = src[s + k]!;
          dst.set(src.subarray(s + sBytes, s + srcBytes), o + 4 * sBytes + i * qBytes);
        }
      }
    }
  };
}

function planGgml(m: Matrix & { dtype: 'q8_0' | 'q4_0' | 'ggml_mxfp4' | 'ggml_nvfp4' }): PlanResult {
  const spec = {
    q8_0: { fmt: FORMAT_ID.Q8_0, sBytes: 2, qBytes: 32, block: 32 },
    q4_0: { fmt: FORMAT_ID.Q4_0, sBytes: 2, qBytes: 16, block: 32 },
    ggml_mxfp4: { fmt: FORMAT_ID.FP4X32, sBytes: 1, qBytes: 16, block: 32 },
    ggml_nvfp4: { fmt: FORMAT_ID.FP4X64, sBytes: 4, qBytes: 32, block: 64 },
  }[m.dtype];
  if (m.cols % spec.block !== 0) return { kind: 'fallback', reason: `${m.dtype} with ${m.cols} columns` };
  const srcBytes = spec.sBytes + spec.qBytes;
  const nBlocks = (m.rows * m.cols) / spec.block;
  if (spec.sBytes === 2 && hasHalfSpecials(m.data, nBlocks, srcBytes)) return { kind: 'fallback', reason: `${m.dtype} with an Inf/NaN block scale` };
  const p = base(spec.fmt, m);
  const write = writeGgmlBlocks(p, rowsOf(m, (m.cols / spec.block) * srcBytes), spec.sBytes, spec.qBytes);
  const table: ScaleTable | null = m.dtype === 'ggml_mxfp4' ? 'ggmlE8m0Half' : m.dtype === 'ggml_nvfp4' ? 'ggmlUe4m3Half' : null;
  return { kind: 'plan', plan: { ...p, rowScale: null, table, gs: 1, write } };
}

/**
 * Separate-scale FP4 matrices (ModelOpt NVFP4: 16 per scale; OCP MXFP4: 32 per scale), codes in "pairs" order:
 * repacked to ggml's split order inside each `sub`-column scale block, scales moved next to their codes.
 */
function planSeparateFp4(m: Nvfp4Matrix | MxMatrix): PlanResult {
  const nv = m.dtype === 'nvfp4';
  const sub = nv ? 16 : 32;
  if (m.cols % sub !== 0) return { kind: 'fallback', reason: `${m.dtype} with ${m.cols} columns` };
  const p = base(nv ? FORMAT_ID.FP4X64 : FORMAT_ID.FP4X32, m);
  const perBlock = nv ? 4 : 1; // scale blocks per kernel block
  const bb = BLOCK_BYTES[p.fmt];
  const nbSrc = m.cols / sub;
  const nb = p.colsP / (sub * perBlock);
  const write = (dst: Uint8Array, g0: number, g1: number): void => {
    for (let g = g0; g < g1; g++) {
      for (let i = 0; i < 4; i++) {
        const r = g * 4 + i;
        if (r >= m.rows) continue;
        for (let b = 0; b < nb; b++) {
          const o = (g - g0) * p.groupBytes + b * bb;
          for (let s = 0; s < perBlock; s++) {
            const sb = b * perBlock + s;
            if (sb >= nbSrc) continue;
            dst[o + i * perBlock + s] = m.blockScales[r * nbSrc + sb]!;
            const q = o + 4 * perBlock + i * (bb - 4 * perBlock) / 4 + s * (sub / 2);
            splitNibbles(m.data, (r * m.cols + sb * sub) / 2, sub, dst, q);
          }
        }
      }
    }
  };
  const plan: PackPlan = { ...p, rowScale: null, table: nv ? 'e4m3Half' : 'e8m0Half', gs: nv ? (m as Nvfp4Matrix).globalScale : 1, write };
  return { kind: 'plan', plan };
}

/** `n` codes in "pairs" order at src[s..] → ggml split order (byte j: code j low, code j + n/2 high) at dst[d..]. */
function splitNibbles(src: Uint8Array, s: number, n: number, dst: Uint8Array, d: number): void {
  const code = (k: number): number => (src[s + (k >> 1)]! >> ((k & 1) * 4)) & 0xf;
  for (let j = 0; j < n / 2; j++) dst[d + j] = code(j) | (code(j + n / 2) << 4);
}

/**
 * K-quants: per 256-column block and row, the f16 super-scale(s) and the sub-block scales (Q4_K/Q5_K: 6-bit scale and
 * min pairs unpacked from ggml's 12 bytes; Q6_K: 16 int8) go to the block header, the code planes follow per row.
 */
function planKQuant(m: Matrix & { dtype: 'q4_k' | 'q5_k' | 'q6_k' }): PlanResult {
  const q6 = m.dtype === 'q6_k';
  const src = { q4_k: 144, q5_k: 176, q6_k: 210 }[m.dtype];
  const nb = m.cols / 256;
  // f16 super-scales: Q4_K/Q5_K d at 0, dmin at 2; Q6_K d at 208
  for (let k = 0; k < m.rows * nb; k++) {
    const o = k * src;
    const bad = q6 ? (m.data[o + 209]! & 0x7c) === 0x7c : (m.data[o + 1]! & 0x7c) === 0x7c || (m.data[o + 3]! & 0x7c) === 0x7c;
    if (bad) return { kind: 'fallback', reason: `${m.dtype} with an Inf/NaN super-block scale` };
  }
  const p = base(q6 ? FORMAT_ID.Q6_K : m.dtype === 'q4_k' ? FORMAT_ID.Q4_K : FORMAT_ID.Q5_K, m);
  const bb = BLOCK_BYTES[p.fmt];
  const write = (dst: Uint8Array, g0: number, g1: number): void => {
    for (let g = g0; g < g1; g++) {
      for (let i = 0; i < 4; i++) {
        const r = g * 4 + i;
        if (r >= m.rows) continue;
        for (let b = 0; b < nb; b++) {
          const o = (g - g0) * p.groupBytes + b * bb;
          const s = (r * nb + b) * src;
          if (q6) writeQ6K(m.data, s, dst, o, i);
          else writeK4(m.data, s, dst, o, i, m.dtype === 'q5_k');
        }
      }
    }
  };
  return { kind: 'plan', plan: { ...p, rowScale: null, table: null, gs: 1, write } };
}

/** Row i of a Q4_K / Q5_K block: d, dmin, 8 scales, 8 mins into the header; qs (and Q5_K's qh) after it. */
function writeK4(src: Uint8Array, s: number, dst: Uint8Array, o: number, i: number, q5: boolean): void {
  dst[o + 2 * i] = src[s]!;
  dst[o + 2 * i + 1] = src[s + 1]!;
  dst[o + 8 + 2 * i] = src[s + 2]!;
  dst[o + 8 + 2 * i + 1] = src[s + 3]!;
  for (let j = 0; j < 8; j++) {
    const [sc, mn] = getScaleMinK4(j, src, s + 4);
    dst[o + 16 + 8 * i + j] = sc;
    dst[o + 48 + 8 * i + j] = mn;
  }
  const q = o + 80 + i * (q5 ? 160 : 128);
  dst.set(src.subarray(s + (q5 ? 48 : 16), s + (q5 ? 176 : 144)), q);
  if (q5) dst.set(src.subarray(s + 16, s + 48), q + 128);
}

/** Row i of a Q6_K block: d and 16 scales into the header, then ql and qh. */
function writeQ6K(src: Uint8Array, s: number, dst: Uint8Array, o: number, i: number): void {
  dst[o + 2 * i] = src[s + 208]!;
  dst[o + 2 * i + 1] = src[s + 209]!;
  dst.set(src.subarray(s + 192, s + 208), o + 8 + 16 * i);
  dst.set(src.subarray(s, s + 192), o + 72 + 192 * i);
}

/** Whether the matrix's buffers hold whole blocks for its shape (anything else is left to ref, which reports it). */
function sizesOk(m: Matrix): boolean {
  switch (m.dtype) {
    case 'nvfp4':
      return m.cols % 16 === 0 && m.data.length >= (m.rows * m.cols) / 2 && m.blockScales.length >= (m.rows * m.cols) / 16;
    case 'mxfp4':
      return m.cols % 32 === 0 && m.data.length >= (m.rows * m.cols) / 2 && m.blockScales.length >= (m.rows * m.cols) / 32;
    case 'mxfp8':
      return m.cols % 32 === 0 && m.data.length >= m.rows * m.cols && m.blockScales.length >= (m.rows * m.cols) / 32;
    default: {
      const { blockSize, blockBytes } = DTYPE_LAYOUT[m.dtype];
      return m.cols % blockSize === 0 && m.data.length >= (m.rows * m.cols / blockSize) * blockBytes;
    }
  }
}

/** The packing plan of a matrix, or why it stays on the reference kernels. */
export function planMatrix(m: Matrix): PlanResult {
  if (!LITTLE_ENDIAN) return { kind: 'fallback', reason: 'big-endian host' };
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows <= 0 || m.cols <= 0 || !sizesOk(m)) {
    return { kind: 'fallback', reason: `a ${m.rows}×${m.cols} ${m.dtype} matrix whose buffers do not match its shape` };
  }
  switch (m.dtype) {
    case 'f32':
    case 'f16':
    case 'bf16':
      return planFloat(m as Matrix & { dtype: 'f32' | 'f16' | 'bf16' });
    case 'f8_e4m3':
    case 'f8_e5m2':
      return planFp8(m);
    case 'q8_0':
    case 'q4_0':
    case 'ggml_mxfp4':
    case 'ggml_nvfp4':
      return planGgml(m as Matrix & { dtype: 'q8_0' | 'q4_0' | 'ggml_mxfp4' | 'ggml_nvfp4' });
    case 'nvfp4':
    case 'mxfp4':
      return planSeparateFp4(m);
    case 'q4_k':
    case 'q5_k':
    case 'q6_k':
      return planKQuant(m as Matrix & { dtype: 'q4_k' | 'q5_k' | 'q6_k' });
    default:
      return { kind: 'fallback', reason: `no wasm kernel for ${m.dtype}` };
  }
}
