/**
 * Storage types shared by every layer of Tandem.
 *
 * `DType` is how a checkpoint stores one tensor's bytes, self-described per element or per block (safetensors dtypes
 * and ggml block types). A `Matrix` is a weight in its stored format, `rows × cols` in PyTorch order ([out, in]),
 * row-major: backends compute on it as it is (nothing dequantizes a whole matrix up front). Formats whose scales live
 * in separate tensors (ModelOpt FP8 / NVFP4, OCP MX) carry them beside the codes.
 */
export type DType =
  | 'f32' | 'f16' | 'bf16'
  | 'f8_e4m3' | 'f8_e5m2' // one byte per element, no scale inside
  | 'u8' | 'i8' | 'i32' // raw integers (packed FP4 codes, E8M0 scales, …)
  | 'q8_0' | 'q4_0' | 'q4_k' | 'q5_k' | 'q6_k' // ggml blocks
  | 'ggml_mxfp4' | 'ggml_nvfp4'; // ggml's MXFP4 (type 39) and NVFP4 (type 40) blocks

/** Elements per block and bytes per block of each storage type. */
export const DTYPE_LAYOUT: Readonly<Record<DType, { readonly blockSize: number; readonly blockBytes: number }>> = {
  f32: { blockSize: 1, blockBytes: 4 },
  f16: { blockSize: 1, blockBytes: 2 },
  bf16: { blockSize: 1, blockBytes: 2 },
  f8_e4m3: { blockSize: 1, blockBytes: 1 },
  f8_e5m2: { blockSize: 1, blockBytes: 1 },
  u8: { blockSize: 1, blockBytes: 1 },
  i8: { blockSize: 1, blockBytes: 1 },
  i32: { blockSize: 1, blockBytes: 4 },
  q8_0: { blockSize: 32, blockBytes: 34 },
  q4_0: { blockSize: 32, blockBytes: 18 },
  q4_k: { blockSize: 256, blockBytes: 144 },
  q5_k: { blockSize: 256, blockBytes: 176 },
  q6_k: { blockSize: 256, blockBytes: 210 },
  ggml_mxfp4: { blockSize: 32, blockBytes: 17 },
  ggml_nvfp4: { blockSize: 64, blockBytes: 36 },
};

export function rowBytes(dtype: DType, cols: number): number {
  const { blockSize, blockBytes } = DTYPE_LAYOUT[dtype];
  return (cols / blockSize) * blockBytes;
}

/** Bytes needed to store `count` elements of `dtype` (count must be a multiple of the block size). */
export function tensorBytes(dtype: DType, count: number): number {
  return rowBytes(dtype, count);
}

/** Storage types whose rows decode on their own (floats and ggml blocks). */
export type SelfContainedDType = Exclude<DType, 'f8_e4m3' | 'f8_e5m2' | 'u8' | 'i8' | 'i32'>;

/**
 * The activation quantization a real low-precision kernel applies to its matmul input: W8A8 FP8 / W4A4 NVFP4
 * (TensorRT-LLM) or ggml's CPU vec_dot types (Q8_0, Q8_K, F16, BF16). See dtypes/activation-quant.ts.
 */
export interface ActivationQuant {
  readonly format: 'fp8' | 'nvfp4' | 'q8_0' | 'q8_k' | 'f16' | 'bf16';
  /** fp8 / nvfp4: calibrated per-tensor decode scale (ModelOpt `input_scale`); 0 = from the input (dynamic). */
  readonly scale: number;
}

/** ggml CPU `vec_dot_type` of each weight type: what llama.cpp quantizes the activations to (f32 = nothing). */
export const GGML_ACTIVATION: Readonly<Partial<Record<DType, ActivationQuant['format']>>> = {
  f16: 'f16', bf16: 'bf16', q8_0: 'q8_0', q4_0: 'q8_0', ggml_mxfp4: 'q8_0', ggml_nvfp4: 'q8_0', q4_k: 'q8_k', q5_k: 'q8_k', q6_k: 'q8_k',
};

interface MatrixBase {
  readonly rows: number;
  readonly cols: number;
  /** Element codes, row-major; may be a zero-copy view into a file buffer. */
  readonly data: Uint8Array;
  /** When set, backends fake-quantize the input like the real kernel (emulation). */
  readonly act?: ActivationQuant;
}

/** Rows that decode on their own. */
export interface PlainMatrix extends MatrixBase {
  readonly dtype: SelfContainedDType;
}

/** FP8 codes times a decode scale per tensor (length 1) or per output row (length rows): ModelOpt FP8. */
export interface Fp8Matrix extends MatrixBase {
  readonly dtype: 'f8_e4m3' | 'f8_e5m2';
  readonly scale: Float32Array;
}

/** NVFP4: E2M1 codes, two per byte (even element in the low nibble), E4M3 scale per 16, FP32 decode scale per tensor. */
export interface Nvfp4Matrix extends MatrixBase {
  readonly dtype: 'nvfp4';
  readonly blockScales: Uint8Array; // E4M3 [rows, cols/16]
  readonly globalScale: number; // decode scale (ModelOpt weight_scale_2 = amax / (6·448))
}

/** OCP MX: E2M1 (two per byte, even element low) or E4M3 codes, E8M0 scale per 32. */
export interface MxMatrix extends MatrixBase {
  readonly dtype: 'mxfp4' | 'mxfp8';
  readonly blockScales: Uint8Array; // E8M0 [rows, cols/32]
}

export type Matrix = PlainMatrix | Fp8Matrix | Nvfp4Matrix | MxMatrix;

/** Every weight format a Matrix can have. */
export type MatrixFormat = Matrix['dtype'];

/**
 * Bytes the matrix occupies as stored (codes + scales), from its shape and format — not from `data`, which a backend's
 * `prepareMatrix` handle leaves empty once the weights live in the backend's memory.
 */
export function matrixBytes(m: Matrix): number {
  const n = m.rows * m.cols;
  switch (m.dtype) {
    case 'f8_e4m3':
    case 'f8_e5m2':
      return n + m.scale.byteLength;
    case 'nvfp4':
      return n / 2 + n / 16 + 4; // e2m1 nibbles + an FP8 scale per 16 + the global scale
    case 'mxfp4':
      return n / 2 + n / 32; // e2m1 nibbles + an E8M0 scale per 32
    case 'mxfp8':
      return n + n / 32;
    default:
      return m.rows * rowBytes(m.dtype, m.cols);
  }
}
