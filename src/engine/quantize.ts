/**
 * `tandem quantize`: rewrite a model's linear weights in a low-precision format.
 *   fp8, nvfp4            → an HF directory in NVIDIA ModelOpt layout (spec precision.md §4.1): P.weight + scales,
 *                           hf_quant_config.json and config.json `quantization_config`; input scales from a short
 *                           calibration run (max |activation| seen by each matrix).
 *   q8_0, q4_0, q4_k, q5_k, q6_k, mxfp4, nvfp4-gguf, f16, bf16 → a GGUF file in ggml's own block layouts.
 * Kept in source precision by default, as NVIDIA does: embeddings, LM head, MoE router; vectors (norms, Mamba A/D/dt,
 * conv) are never quantized. A matrix whose rows are not whole blocks of the format falls back (reported).
 */
import { TandemError } from '../errors.js';
import { globMatch } from '../formats/quant-config.js';
import type { WeightEntry } from '../formats/weight-entries.js';
import { decodeRow, fromFloat32 } from '../numerics/dtypes/index.js';
import { quantizeFp8PerTensor } from '../numerics/dtypes/fp8.js';
import { quantizeNvfp4 } from '../numerics/dtypes/nvfp4.js';
import { DTYPE_LAYOUT, type DType, type Matrix } from '../numerics/tensor.js';
import type { Backend } from '../numerics/backend.js';
import { forward, newState, type Model } from '../model/nemotron-h.js';

export const HF_FORMATS = ['fp8', 'nvfp4'] as const;
export const GGUF_FORMATS = ['q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'mxfp4', 'nvfp4-gguf', 'f16', 'bf16', 'f32'] as const;
export type QuantFormat = (typeof HF_FORMATS)[number] | (typeof GGUF_FORMATS)[number];

/** ggml storage type of each GGUF target. */
export const GGUF_DTYPE: Readonly<Record<(typeof GGUF_FORMATS)[number], DType>> = {
  q8_0: 'q8_0', q4_0: 'q4_0', q4_k: 'q4_k', q5_k: 'q5_k', q6_k: 'q6_k', mxfp4: 'ggml_mxfp4', 'nvfp4-gguf': 'ggml_nvfp4', f16: 'f16', bf16: 'bf16', f32: 'f32',
};

/** HF module-name globs kept in source precision unless `--keep` replaces them. */
export const DEFAULT_KEEP: readonly string[] = ['backbone.embeddings', 'lm_head', '*.mixer.gate'];

export function parseQuantFormat(f: string): QuantFormat {
  const all: readonly string[] = [...HF_FORMATS, ...GGUF_FORMATS];
  if (!all.includes(f)) throw new TandemError('BAD_ARGUMENT', `--format "${f}" is not supported; use one of ${all.join(', ')}`);
  return f as QuantFormat;
}

/** A module is kept when a pattern matches it or one of its parent modules. */
export function isKept(module: string, keep: readonly string[]): boolean {
  return keep.some((p) => globMatch(p, module) || globMatch(`${p}.*`, module));
}

/** Decode a whole matrix to f32 [rows, cols]. */
export function matrixToF32(m: Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) decodeRow(m, r, out, r * m.cols);
  return out;
}

/** A backend that records, per weight matrix, the largest |input| it was multiplied with. */
export function recordingBackend(base: Backend, amax: Map<Matrix, number>): Backend {
  return {
    ...base,
    name: `${base.name}+calibration`,
    matmul(out, x, T, w) {
      let a = amax.get(w) ?? 0;
      for (let i = 0; i < T * w.cols; i++) a = Math.max(a, Math.abs(x[i]!));
      amax.set(w, a);
      base.matmul(out, x, T, w);
    },
  };
}

/** Run `tokens` through the model and return each matrix's input amax (the ModelOpt "max" calibrator). */
export function calibrate(model: Model, tokens: readonly number[], chunk = 64): Map<Matrix, number> {
  const amax = new Map<Matrix, number>();
  const m: Model = { ...model, backend: recordingBackend(model.backend, amax) };
  const state = newState(m);
  for (let i = 0; i < tokens.length; i += chunk) forward(m, state, tokens.slice(i, i + chunk));
  return amax;
}

/** One output tensor (HF safetensors or GGUF), named and shaped as the checkpoint stores it. */
export interface OutTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

const f32Bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const scalar = (name: string, v: number): OutTensor => ({ name, dtype: 'f32', shape: [], data: f32Bytes(Float32Array.of(v)) });

/** ModelOpt tensors for one linear weight `P.weight` in fp8 or nvfp4 (input scale from calibration). */
export function modelOptTensors(name: string, m: Matrix, format: 'fp8' | 'nvfp4', inputAmax: number): OutTensor[] {
  const p = name.replace(/\.weight$/, '');
  const x = matrixToF32(m);
  if (format === 'fp8') {
    const q = quantizeFp8PerTensor(x, 'e4m3');
    return [
      { name, dtype: 'f8_e4m3', shape: [m.rows, m.cols], data: q.data },
      scalar(`${p}.weight_scale`, q.scale),
      scalar(`${p}.input_scale`, inputAmax > 0 ? inputAmax / 448 : 1),
    ];
  }
  const q = quantizeNvfp4(x, m.rows, m.cols);
  return [
    { name, dtype: 'u8', shape: [m.rows, m.cols / 2], data: q.data },
    { name: `${p}.weight_scale`, dtype: 'f8_e4m3', shape: [m.rows, m.cols / 16], data: q.blockScales },
    scalar(`${p}.weight_scale_2`, q.globalScale),
    scalar(`${p}.input_scale`, inputAmax > 0 ? inputAmax / (6 * 448) : 1),
  ];
}

/** Whether a matrix of `cols` columns can be stored in `dtype` / the HF format (whole blocks per row). */
export function fitsFormat(format: QuantFormat, cols: number): boolean {
  if (format === 'fp8') return true;
  if (format === 'nvfp4') return cols % 16 === 0;
  return cols % DTYPE_LAYOUT[GGUF_DTYPE[format]].blockSize === 0;
}

export interface QuantizeReport {
  readonly quantized: string[];
  readonly kept: string[];
  /** Matrices that could not take the format (rows not whole blocks) and what they became. */
  readonly fallbacks: string[];
}

/** Encode one GGUF matrix: the target type if its rows are whole blocks, else Q8_0, else the source float type. */
export function ggufMatrix(m: Matrix, target: DType, fallbacks: string[], name: string): { dtype: DType; data: Uint8Array } {
  const x = matrixToF32(m);
  for (const dtype of [target, 'q8_0', 'f32'] as DType[]) {
    if (m.cols % DTYPE_LAYOUT[dtype].blockSize !== 0) continue;
    if (dtype !== target) fallbacks.push(`${name} → ${dtype} (${m.cols} columns are not whole ${target} blocks)`);
    return { dtype, data: fromFloat32(dtype, x) };
  }
  throw new Error('unreachable: f32 always fits');
}

export type { WeightEntry };
