/**
 * Facts about the GGUF v3 container shared by the reader (`gguf.ts`) and the writer (`gguf-writer.ts`):
 * value-type codes, ggml tensor-type ids, and the value types of the public API.
 * Spec: ggml `docs/gguf.md` (little-endian, magic "GGUF", version 3).
 */
import type { DType } from '../numerics/tensor.js';

export type GgufScalarType =
  | 'u8'
  | 'i8'
  | 'u16'
  | 'i16'
  | 'u32'
  | 'i32'
  | 'f32'
  | 'bool'
  | 'string'
  | 'u64'
  | 'i64'
  | 'f64';

/** One metadata value. 64-bit integers (`u64`, `i64`) are `bigint`, scalars and array items alike. */
export type GgufValue =
  | { readonly type: GgufScalarType; readonly value: number | bigint | boolean | string }
  | {
      readonly type: 'array';
      readonly itemType: GgufScalarType;
      readonly values: readonly (number | bigint | boolean | string)[];
    };

/** A tensor handed to the writer; `shape` is in PyTorch order (outermost first), `data` its encoded bytes. */
export interface GgufTensorToWrite {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const GGUF_MAX_DIMS = 4;

/** GGUF metadata value-type codes (`gguf_metadata_value_type`). */
export const GGUF_TYPE_CODE: Readonly<Record<GgufScalarType | 'array', number>> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
};

const CODE_TO_SCALAR: readonly (GgufScalarType | 'array')[] = [
  'u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64',
];

/** The value type for a code, or undefined for an unknown code. */
export function ggufTypeOfCode(code: number): GgufScalarType | 'array' | undefined {
  return CODE_TO_SCALAR[code];
}

/** Fixed byte size of a scalar type (strings are variable: undefined). */
export const GGUF_SCALAR_BYTES: Readonly<Record<GgufScalarType, number | undefined>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  string: undefined,
  u64: 8,
  i64: 8,
  f64: 8,
};

export function isNumericType(t: GgufScalarType | 'array'): boolean {
  return t !== 'bool' && t !== 'string' && t !== 'array';
}

/** ggml tensor type ids Tandem can read and write. */
export const DTYPE_TO_GGML: Readonly<Partial<Record<DType, number>>> = {
  f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_k: 12, q5_k: 13, q6_k: 14, i8: 24, i32: 26, bf16: 30, ggml_mxfp4: 39, ggml_nvfp4: 40,
};

const GGML_TO_DTYPE: ReadonlyMap<number, DType> = new Map(
  Object.entries(DTYPE_TO_GGML).map(([d, id]) => [id, d as DType]),
);

export function dtypeOfGgmlType(id: number): DType | undefined {
  return GGML_TO_DTYPE.get(id);
}

/** Names of the well-known ggml types (`enum ggml_type`), for error messages. Gaps are ids removed upstream. */
const GGML_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 4: 'Q4_2 (removed)', 5: 'Q4_3 (removed)', 6: 'Q5_0', 7: 'Q5_1',
  8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K',
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS',
  24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16',
  31: 'Q4_0_4_4 (removed)', 32: 'Q4_0_4_8 (removed)', 33: 'Q4_0_8_8 (removed)', 34: 'TQ1_0', 35: 'TQ2_0',
  36: 'IQ4_NL_4_4 (removed)', 37: 'IQ4_NL_4_8 (removed)', 38: 'IQ4_NL_8_8 (removed)', 39: 'MXFP4', 40: 'NVFP4',
  41: 'Q1_0',
};

/** "Q4_K" for 12; "unknown" for ids outside the table. */
export function ggmlTypeName(id: number): string {
  return GGML_TYPE_NAMES[id] ?? 'unknown';
}

export function alignUp(n: number, alignment: number): number {
  const rem = n % alignment;
  return rem === 0 ? n : n + (alignment - rem);
}

export function isValidAlignment(a: number): boolean {
  return Number.isSafeInteger(a) && a > 0 && (a & (a - 1)) === 0 && a <= 2 ** 30;
}
