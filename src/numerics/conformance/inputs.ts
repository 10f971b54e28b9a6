/**
 * Deterministic inputs for the conformance suite: a seeded generator, weight matrices in every stored format (built
 * with the same quantizers the checkpoint converters use, so the bytes are real encodings), and guarded output
 * buffers that catch writes outside the region an op owns.
 */
import { fromFloat32 } from '../dtypes/index.js';
import { quantizeFp8PerTensor } from '../dtypes/fp8.js';
import { quantizeNvfp4 } from '../dtypes/nvfp4.js';
import { quantizeMx } from '../dtypes/mx.js';
import { mulberry32 } from '../random.js';
import type { ActivationQuant, Matrix, MatrixFormat } from '../tensor.js';

/** Seeded uniform / normal draws (mulberry32 + Box–Muller); the same seed always gives the same stream. */
export class Draw {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32((seed >>> 0) ^ 0x2545f491);
  }
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.#next();
  }
  normal(): number {
    const u = Math.max(this.#next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.#next());
  }
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  /** `n` draws of N(0, s²). */
  normals(n: number, s = 1): Float32Array {
    return Float32Array.from({ length: n }, () => s * this.normal());
  }
  uniforms(n: number, lo: number, hi: number): Float32Array {
    return Float32Array.from({ length: n }, () => this.uniform(lo, hi));
  }
}

/**
 * Activations [T, cols]: N(0, 1) with one outlier per row (×8, stresses per-block scales) and, for T > 2, row 2 all
 * zeros (the amax = 0 path of every activation quantizer).
 */
export function activations(d: Draw, T: number, cols: number): Float32Array {
  const x = d.normals(T * cols);
  for (let t = 0; t < T; t++) x[t * cols + ((7 * t + 3) % cols)]! *= 8;
  if (T > 2) x.fill(0, 2 * cols, 3 * cols);
  return x;
}

/** Weight values [rows, cols]: N(0, 1/cols), row r scaled by 2^((r mod 7) − 3) so rows span 1/8 .. 8. */
export function weightValues(d: Draw, rows: number, cols: number): Float32Array {
  const w = d.normals(rows * cols, 1 / Math.sqrt(cols));
  for (let r = 0; r < rows; r++) {
    const s = 2 ** ((r % 7) - 3);
    for (let c = 0; c < cols; c++) w[r * cols + c]! *= s;
  }
  return w;
}

/** How a matrix is stored: its dtype, plus the scale layout where a format has a choice. */
export type WeightFormat =
  | { readonly dtype: Exclude<MatrixFormat, 'f8_e4m3' | 'f8_e5m2'> }
  | { readonly dtype: 'f8_e4m3' | 'f8_e5m2'; readonly perRow: boolean };

/** Encodes `values` [rows, cols] as `f`, optionally with an activation format for the kernel to emulate. */
export function makeMatrix(f: WeightFormat, values: Float32Array, rows: number, cols: number, act?: ActivationQuant): Matrix {
  const extra = act ? { act } : {};
  switch (f.dtype) {
    case 'f8_e4m3':
    case 'f8_e5m2': {
      const fmt = f.dtype === 'f8_e4m3' ? 'e4m3' : 'e5m2';
      if (!f.perRow) {
        const q = quantizeFp8PerTensor(values, fmt);
        return { dtype: f.dtype, rows, cols, data: q.data, scale: Float32Array.of(q.scale), ...extra };
      }
      const data = new Uint8Array(rows * cols);
      const scale = new Float32Array(rows);
      for (let r = 0; r < rows; r++) {
        const q = quantizeFp8PerTensor(values.subarray(r * cols, (r + 1) * cols), fmt);
        data.set(q.data, r * cols);
        scale[r] = q.scale;
      }
      return { dtype: f.dtype, rows, cols, data, scale, ...extra };
    }
    case 'nvfp4': {
      const q = quantizeNvfp4(values, rows, cols);
      return { dtype: 'nvfp4', rows, cols, data: q.data, blockScales: q.blockScales, globalScale: q.globalScale, ...extra };
    }
    case 'mxfp4':
    case 'mxfp8': {
      const q = quantizeMx(f.dtype, values, rows, cols, f.dtype === 'mxfp4' ? 'floor' : 'ceil');
      return { dtype: f.dtype, rows, cols, data: q.data, blockScales: q.blockScales, ...extra };
    }
    default:
      return { dtype: f.dtype, rows, cols, data: fromFloat32(f.dtype, values).slice(), ...extra };
  }
}

/** Elements on each side of a guarded buffer, and the value they hold (no op ever writes it). */
export const GUARD = 3;
const SENTINEL = -7777.25;

/** An output buffer of `n` elements with `GUARD` sentinels on each side; `view` is what the op gets. */
export interface Guarded {
  readonly view: Float32Array;
  /** The 2·GUARD sentinels as they are now (all SENTINEL unless the op wrote outside `view`). */
  guards(): Float32Array;
}

export function guarded(n: number, init?: Float32Array): Guarded {
  const buf = new Float32Array(n + 2 * GUARD).fill(SENTINEL);
  const view = buf.subarray(GUARD, GUARD + n);
  if (init) view.set(init);
  return {
    view,
    guards: () => Float32Array.of(...buf.subarray(0, GUARD), ...buf.subarray(GUARD + n)),
  };
}

/** A copy of `src` placed `offset` elements into a larger buffer (an unaligned view, as layer code passes). */
export function offsetView(src: Float32Array, offset: number): Float32Array {
  const buf = new Float32Array(src.length + offset + 1);
  buf.set(src, offset);
  return buf.subarray(offset, offset + src.length);
}
