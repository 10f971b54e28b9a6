/**
 * One linear weight of an HF checkpoint → a `Matrix`, whatever its stored form (spec precision.md §4.1–4.2):
 *   plain      P.weight (F32/F16/BF16)                                            [out, in]
 *   FP8        P.weight F8_E4M3 [out, in] + P.weight_scale F32 (scalar or [out]) (+ P.input_scale)     ModelOpt
 *   NVFP4      P.weight U8 [out, in/2] + P.weight_scale F8_E4M3 [out, in/16] + P.weight_scale_2 F32 (+ P.input_scale)   ModelOpt
 *   NVFP4      P.weight_packed U8 [out, in/2] + P.weight_scale F8_E4M3 [out, in/16] + P.weight_global_scale F32
 *              (+ P.input_global_scale)   compressed-tensors: its global scales are ENCODE scales (2688/amax), the
 *              reciprocal of ModelOpt's decode scale, and are inverted here.
 * Codes stay packed (zero-copy views); only the scalar scales are read.
 */
import { GGML_ACTIVATION, type ActivationQuant, type Matrix, type PlainMatrix } from '../numerics/tensor.js';
import type { Collector } from './collector.js';
import type { RawTensor } from './raw-tensor.js';
import type { QuantScheme } from './quant-config.js';
import type { TensorSpec } from './tensor-names.js';

export interface ResolveOptions {
  readonly scheme: QuantScheme;
  /** Emulate the activation quantization of the real kernels (W8A8 for FP8, W4A4 for NVFP4). */
  readonly emulateActivations: boolean;
  /**
   * Called on every matrix as soon as it is resolved (a backend's `prepareMatrix`, wrapped by the loader): the
   * returned matrix is stored instead, so a lazily read tensor's bytes can be dropped one tensor at a time.
   */
  readonly prepare?: (m: Matrix) => Matrix;
}

function f32Array(t: RawTensor): Float32Array {
  const d = t.data; // once: a lazily read tensor reads its bytes on every access
  const n = d.byteLength / 4;
  const out = new Float32Array(n);
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

function act(format: ActivationQuant['format'], scale: number | undefined, on: boolean): { act?: ActivationQuant } {
  return on ? { act: { format, scale: scale ?? 0 } } : {};
}

function fp8(col: Collector, p: string, t: RawTensor, spec: TensorSpec, o: ResolveOptions): Matrix | undefined {
  const [rows, cols] = spec.shape as [number, number];
  if (!col.check(t, spec.shape)) return undefined;
  const s = col.peek(`${p}.weight_scale`);
  if (!s) {
    col.missing.push(`${p}.weight_scale (FP8 decode scale: scalar or [${rows}])`);
    return undefined;
  }
  const n = s.shape.reduce((a, b) => a * b, 1);
  if (s.dtype !== 'f32' || (n !== 1 && n !== rows)) {
    col.misshaped.push(`${s.name} is ${s.dtype} [${s.shape.join(', ')}], expected an f32 scalar or [${rows}]`);
    return undefined;
  }
  const input = col.scalar(`${p}.input_scale`, false);
  return { dtype: t.dtype as 'f8_e4m3' | 'f8_e5m2', rows, cols, data: t.data, scale: f32Array(s), ...act('fp8', input, o.emulateActivations) };
}

function nvfp4(col: Collector, p: string, codes: RawTensor, spec: TensorSpec, o: ResolveOptions, ct: boolean): Matrix | undefined {
  const [rows, cols] = spec.shape as [number, number];
  if (cols % 16 !== 0) {
    col.misshaped.push(`${codes.name}: ${cols} columns are not a whole number of 16-element NVFP4 blocks`);
    return undefined;
  }
  const c = col.check(codes, [rows, cols / 2], ['u8']);
  const scales = col.need(`${p}.weight_scale`, [rows, cols / 16], ['f8_e4m3']);
  const global = col.scalar(ct ? `${p}.weight_global_scale` : `${p}.weight_scale_2`, true);
  const input = col.scalar(ct ? `${p}.input_global_scale` : `${p}.input_scale`, false);
  if (!c || !scales || global === undefined) return undefined;
  const decode = (v: number | undefined): number | undefined => (v === undefined ? undefined : ct ? 1 / v : v);
  return { dtype: 'nvfp4', rows, cols, data: c.data, blockScales: scales.data, globalScale: decode(global)!, ...act('nvfp4', decode(input), o.emulateActivations) };
}

/** Resolve the matrix `spec` (name `P.weight`) in any supported stored form; records problems in `col`. */
export function resolveMatrix(col: Collector, spec: TensorSpec, o: ResolveOptions): Matrix | undefined {
  const p = spec.name.replace(/\.weight$/, '');
  const w = col.peek(spec.name);
  if (!w) {
    const packed = col.peek(`${p}.weight_packed`);
    if (packed) return nvfp4(col, p, packed, spec, o, true);
    col.missing.push(`${spec.name} [${spec.shape.join(', ')}]`);
    return undefined;
  }
  if (w.dtype === 'f8_e4m3' || w.dtype === 'f8_e5m2') return fp8(col, p, w, spec, o);
  if (w.dtype === 'u8' && o.scheme.kind !== 'none') return nvfp4(col, p, w, spec, o, false);
  const t = col.check(w, spec.shape, ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'ggml_mxfp4', 'ggml_nvfp4']);
  if (!t) return undefined;
  return plainMatrix(t, o.emulateActivations);
}

/** A self-contained (float or ggml block) matrix; with emulation, ggml's vec_dot activation type is attached. */
export function plainMatrix(t: RawTensor, emulate: boolean, rows = t.shape[0]!, data = t.data): PlainMatrix {
  const cols = t.shape[t.shape.length - 1]!;
  const dtype = t.dtype as PlainMatrix['dtype'];
  const a = emulate ? GGML_ACTIVATION[dtype] : undefined;
  return { dtype, rows, cols, data, ...(a ? { act: { format: a, scale: 0 } } : {}) };
}
