/**
 * Test fixtures for the wasm backend: a random weight of every format the kernels cover (and of some they do not),
 * built with the project's own quantizers from seeded normal data, at shapes that exercise the padding (rows not a
 * multiple of 4, f32/f16/FP8 columns not a multiple of the block, ModelOpt NVFP4 columns not a multiple of 64).
 */
import type { Matrix } from '../tensor.js';
import { decodeRow, fromFloat32 } from '../dtypes/index.js';
import { kernelInput } from '../ref/matmul.js';
import { quantizeFp8PerTensor } from '../dtypes/fp8.js';
import { quantizeNvfp4 } from '../dtypes/nvfp4.js';
import { quantizeMx } from '../dtypes/mx.js';
import { Rng } from '../../testing/rng.js';

export interface WeightCase {
  readonly label: string;
  readonly m: Matrix;
  /** Whether the wasm kernels should run it (false: the ref fallback). */
  readonly fast: boolean;
}

export const randn = (rng: Rng, n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => s * rng.normal());

/** One case per format; `rows` odd so the last 4-row group is padded. */
export function weightCases(seed: number, rows = 13): WeightCase[] {
  const rng = new Rng(seed);
  const w = (cols: number): Float32Array => randn(rng, rows * cols, 0.5);
  const plain = (dtype: 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'ggml_mxfp4' | 'ggml_nvfp4' | 'q4_k' | 'q5_k' | 'q6_k', cols: number): Matrix => ({ dtype, rows, cols, data: fromFloat32(dtype, w(cols)) });
  const fp8 = (format: 'e4m3' | 'e5m2', cols: number, perRow: boolean): Matrix => {
    const q = quantizeFp8PerTensor(w(cols), format);
    const scale = perRow ? Float32Array.from({ length: rows }, () => q.scale * rng.uniform(0.5, 2)) : Float32Array.of(q.scale);
    return { dtype: format === 'e4m3' ? 'f8_e4m3' : 'f8_e5m2', rows, cols, data: q.data, scale };
  };
  const nv = quantizeNvfp4(w(80), rows, 80);
  const mx4 = quantizeMx('mxfp4', w(96), rows, 96, 'floor');
  const mx8 = quantizeMx('mxfp8', w(64), rows, 64, 'ceil');
  return [
    { label: 'f32 (cols 70)', m: plain('f32', 70), fast: true },
    { label: 'f16 (cols 21)', m: plain('f16', 21), fast: true },
    { label: 'bf16 (cols 40)', m: plain('bf16', 40), fast: true },
    { label: 'f8_e4m3 per tensor (cols 40)', m: fp8('e4m3', 40, false), fast: true },
    { label: 'f8_e4m3 per row (cols 48)', m: fp8('e4m3', 48, true), fast: true },
    { label: 'f8_e5m2 (cols 24)', m: fp8('e5m2', 24, false), fast: true },
    { label: 'q8_0', m: plain('q8_0', 96), fast: true },
    { label: 'q4_0', m: plain('q4_0', 160), fast: true },
    { label: 'ggml_mxfp4', m: plain('ggml_mxfp4', 96), fast: true },
    { label: 'ggml_nvfp4', m: plain('ggml_nvfp4', 128), fast: true },
    { label: 'nvfp4 ModelOpt (cols 80)', m: { dtype: 'nvfp4', rows, cols: 80, data: nv.data, blockScales: nv.blockScales, globalScale: nv.globalScale }, fast: true },
    { label: 'mxfp4 OCP', m: { dtype: 'mxfp4', rows, cols: 96, ...mx4 }, fast: true },
    { label: 'q4_0 + q8_0 activations (int8 kernel)', m: { ...plain('q4_0', 64), act: { format: 'q8_0', scale: 0 } }, fast: true },
    { label: 'q8_0 + q8_0 activations (int8 kernel)', m: { ...plain('q8_0', 96), act: { format: 'q8_0', scale: 0 } }, fast: true },
    { label: 'ggml_mxfp4 + q8_0 activations (int8 kernel)', m: { ...plain('ggml_mxfp4', 64), act: { format: 'q8_0', scale: 0 } }, fast: true },
    { label: 'ggml_nvfp4 + q8_0 activations (int8 kernel)', m: { ...plain('ggml_nvfp4', 128), act: { format: 'q8_0', scale: 0 } }, fast: true },
    { label: 'f16 + f16 activations', m: { ...plain('f16', 32), act: { format: 'f16', scale: 0 } }, fast: true },
    { label: 'bf16 + bf16 activations', m: { ...plain('bf16', 32), act: { format: 'bf16', scale: 0 } }, fast: true },
    { label: 'f8_e4m3 + fp8 activations', m: { ...fp8('e4m3', 32, false), act: { format: 'fp8', scale: 0 } }, fast: true },
    { label: 'nvfp4 + nvfp4 activations', m: { dtype: 'nvfp4', rows, cols: 80, data: nv.data, blockScales: nv.blockScales, globalScale: nv.globalScale, act: { format: 'nvfp4', scale: 0 } }, fast: true },
    { label: 'q4_k', m: plain('q4_k', 512), fast: true },
    { label: 'q5_k', m: plain('q5_k', 256), fast: true },
    { label: 'q6_k', m: plain('q6_k', 512), fast: true },
    { label: 'q4_k + q8_k activations', m: { ...plain('q4_k', 256), act: { format: 'q8_k', scale: 0 } }, fast: true },
    { label: 'mxfp8 (ref fallback)', m: { dtype: 'mxfp8', rows, cols: 64, ...mx8 }, fast: false },
  ];
}

/** Σ_c |x[t, c] · W[r, c]| for every output: the scale of an f32 dot product's rounding error. */
export function absDots(x: Float32Array, T: number, wf: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(T * rows);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += Math.abs(x[t * cols + c]! * wf[r * cols + c]!);
      out[t * rows + r] = s;
    }
  }
  return out;
}

/** The matrix decoded to f32 [rows, cols]. */
export function decoded(m: Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) decodeRow(m, r, out, r * m.cols);
  return out;
}

/**
 * max over outputs of |got − want| / Σ_c |x_c · W_rc| (the scale of f32 accumulation error; x as the kernel sees it);
 * NaN when either side has a NaN the other has not.
 */
export function matmulError(got: Float32Array, want: Float32Array, x: Float32Array, T: number, m: Matrix): number {
  const scale = absDots(kernelInput(x, T, m), T, decoded(m), m.rows, m.cols);
  let e = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!) / (scale[i]! + 1e-30);
    if (Number.isNaN(d)) return NaN;
    e = Math.max(e, d);
  }
  return e;
}

/** An allclose budget: |got − want| ≤ abs + rel·|want| (TOLERANCE.conformance rows). */
export interface Closeness {
  readonly abs: number;
  readonly rel: number;
}

/**
 * Prints the largest |got − want| of an op output and throws naming the worst element when any is outside `tol`
 * (NaN must meet NaN, ±Inf the same infinity).
 */
export function expectClose(label: string, got: Float32Array, want: Float32Array, tol: Closeness): void {
  if (got.length !== want.length) throw new Error(`${label}: length ${got.length} vs ${want.length}`);
  let maxAbs = 0, worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!, w = want[i]!;
    const same = Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)) || g === w;
    const d = same ? 0 : Math.abs(g - w);
    const ratio = same ? 0 : Number.isFinite(d) ? d / (tol.abs + tol.rel * Math.abs(w)) : Infinity;
    if (Number.isFinite(d)) maxAbs = Math.max(maxAbs, d);
    else maxAbs = Infinity;
    if (ratio > worst) (worst = ratio), (at = i);
  }
  console.log(`${label}: max |Δ| ${maxAbs.toExponential(2)} (tolerance ${tol.abs} + ${tol.rel}·|ref|)`);
  if (worst > 1) throw new Error(`${label}: element ${at} is ${got[at]} vs ref ${want[at]}`);
}
