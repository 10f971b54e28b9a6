/**
 * One entry point over the storage codecs: decode any `DType` to f32 (a row, or a whole tensor) and encode
 * f32 to any `DType`. Byte layouts live in the per-format files:
 *   f32   4 bytes per value, IEEE binary32, little-endian
 *   f16   ./f16.ts      bf16  ./bf16.ts      q8_0  ./q8-0.ts      q4_0  ./q4-0.ts
 *   q4_k  ./q4-k.ts     q5_k  ./q5-k.ts      q6_k  ./q6-k.ts
 *   f8_e4m3 / f8_e5m2 ./fp8.ts   ggml_mxfp4 ./ggml-mxfp4.ts   ggml_nvfp4 ./ggml-nvfp4.ts
 *   Matrices with separate scales: nvfp4 ./nvfp4.ts, mxfp4 / mxfp8 ./mx.ts, FP8 + scale ./fp8.ts
 */
import { TandemError } from '../../errors.js';
import { DTYPE_LAYOUT, rowBytes, tensorBytes, type DType, type Matrix } from '../tensor.js';
import { decodeBf16, encodeBf16 } from './bf16.js';
import { decodeF16, encodeF16 } from './f16.js';
import { dequantizeQ4_0, quantizeQ4_0 } from './q4-0.js';
import { dequantizeQ8_0, quantizeQ8_0 } from './q8-0.js';
import { dequantizeQ4_K, quantizeQ4_K } from './q4-k.js';
import { dequantizeQ5_K, quantizeQ5_K } from './q5-k.js';
import { dequantizeQ6_K, quantizeQ6_K } from './q6-k.js';
import { decodeFp8, decodeFp8Row, encodeFp8 } from './fp8.js';
import { dequantizeGgmlMxfp4, quantizeGgmlMxfp4 } from './ggml-mxfp4.js';
import { dequantizeGgmlNvfp4, quantizeGgmlNvfp4 } from './ggml-nvfp4.js';
import { decodeNvfp4Row } from './nvfp4.js';
import { decodeMxRow } from './mx.js';

export { bf16ToF32, decodeBf16, encodeBf16, f32ToBf16 } from './bf16.js';
export { decodeF16, encodeF16, f16ToF32, f32ToF16 } from './f16.js';
export { dequantizeQ4_0, quantizeQ4_0 } from './q4-0.js';
export { dequantizeQ8_0, quantizeQ8_0 } from './q8-0.js';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decodeF32(src: Uint8Array, count: number, out: Float32Array, outOffset: number): void {
  if (src.length < count * 4) {
    throw new TandemError('BAD_ARGUMENT', `decodeF32: ${count} values need ${count * 4} bytes, got ${src.length}`);
  }
  if (LITTLE_ENDIAN_HOST && src.byteOffset % 4 === 0) {
    out.set(new Float32Array(src.buffer, src.byteOffset, count), outOffset);
    return;
  }
  const view = new DataView(src.buffer, src.byteOffset, count * 4);
  for (let i = 0; i < count; i++) out[outOffset + i] = view.getFloat32(i * 4, true);
}

/** Decodes `count` elements of `dtype` from the start of `src` into `out[outOffset ..]`. */
function decodeInto(dtype: DType, src: Uint8Array, count: number, out: Float32Array, outOffset: number): void {
  switch (dtype) {
    case 'f32':
      return decodeF32(src, count, out, outOffset);
    case 'f16':
      return decodeF16(src, count, out, outOffset);
    case 'bf16':
      return decodeBf16(src, count, out, outOffset);
    case 'q8_0':
      return dequantizeQ8_0(src, count, out, outOffset);
    case 'q4_0':
      return dequantizeQ4_0(src, count, out, outOffset);
    case 'q4_k':
      return dequantizeQ4_K(src, count, out, outOffset);
    case 'q5_k':
      return dequantizeQ5_K(src, count, out, outOffset);
    case 'q6_k':
      return dequantizeQ6_K(src, count, out, outOffset);
    case 'ggml_mxfp4':
      return dequantizeGgmlMxfp4(src, count, out, outOffset);
    case 'ggml_nvfp4':
      return dequantizeGgmlNvfp4(src, count, out, outOffset);
    case 'f8_e4m3':
      return decodeFp8('e4m3', src, count, out, outOffset);
    case 'f8_e5m2':
      return decodeFp8('e5m2', src, count, out, outOffset);
    case 'u8':
      for (let i = 0; i < count; i++) out[outOffset + i] = src[i]!;
      return;
    case 'i8':
      for (let i = 0; i < count; i++) out[outOffset + i] = (src[i]! << 24) >> 24;
      return;
    case 'i32': {
      const view = new DataView(src.buffer, src.byteOffset, count * 4);
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getInt32(i * 4, true);
      return;
    }
  }
}

function checkCount(fn: string, dtype: DType, count: number): void {
  const { blockSize } = DTYPE_LAYOUT[dtype];
  if (!Number.isInteger(count) || count < 0 || count % blockSize !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: ${dtype} needs a multiple of ${blockSize} elements, got ${count}`);
  }
}

/** Decodes row `row` of `m` (`m.cols` values) to f32 into `out[outOffset ..]`. */
export function decodeRow(m: Matrix, row: number, out: Float32Array, outOffset = 0): void {
  if (!Number.isInteger(row) || row < 0 || row >= m.rows) {
    throw new TandemError('BAD_ARGUMENT', `decodeRow: row ${row} is outside a matrix of ${m.rows} rows`);
  }
  switch (m.dtype) {
    case 'f8_e4m3':
    case 'f8_e5m2':
      return decodeFp8Row(m, row, out, outOffset);
    case 'nvfp4':
      return decodeNvfp4Row(m, row, out, outOffset);
    case 'mxfp4':
    case 'mxfp8':
      return decodeMxRow(m, row, out, outOffset);
    default: {
      checkCount('decodeRow', m.dtype, m.cols);
      const bytes = rowBytes(m.dtype, m.cols);
      decodeInto(m.dtype, m.data.subarray(row * bytes, (row + 1) * bytes), m.cols, out, outOffset);
    }
  }
}

/**
 * Decodes a whole tensor of `count` elements to f32. For 'f32' data whose byte offset is 4-aligned (on a
 * little-endian host) the result is a zero-copy view sharing memory with `data`; otherwise a new array.
 */
export function toFloat32(dtype: DType, data: Uint8Array, count: number): Float32Array {
  checkCount('toFloat32', dtype, count);
  const need = tensorBytes(dtype, count);
  if (data.length < need) {
    throw new TandemError('BAD_ARGUMENT', `toFloat32: ${count} ${dtype} elements need ${need} bytes, got ${data.length}`);
  }
  if (dtype === 'f32' && LITTLE_ENDIAN_HOST && data.byteOffset % 4 === 0) {
    return new Float32Array(data.buffer, data.byteOffset, count);
  }
  const out = new Float32Array(count);
  decodeInto(dtype, data, count, out, 0);
  return out;
}

/**
 * Encodes `src` as `dtype` (block types need a multiple of 32 elements). For 'f32' on a little-endian host
 * the result is a zero-copy byte view of `src`.
 */
export function fromFloat32(dtype: DType, src: Float32Array): Uint8Array {
  checkCount('fromFloat32', dtype, src.length);
  switch (dtype) {
    case 'f32':
      return f32Bytes(src);
    case 'f16':
      return encodeF16(src);
    case 'bf16':
      return encodeBf16(src);
    case 'q8_0':
      return quantizeQ8_0(src);
    case 'q4_0':
      return quantizeQ4_0(src);
    case 'q4_k':
      return quantizeQ4_K(src);
    case 'q5_k':
      return quantizeQ5_K(src);
    case 'q6_k':
      return quantizeQ6_K(src);
    case 'ggml_mxfp4':
      return quantizeGgmlMxfp4(src);
    case 'ggml_nvfp4':
      return quantizeGgmlNvfp4(src);
    case 'f8_e4m3':
      return encodeFp8('e4m3', src);
    case 'f8_e5m2':
      return encodeFp8('e5m2', src);
    case 'u8':
    case 'i8':
    case 'i32':
      throw new TandemError('BAD_ARGUMENT', `fromFloat32: ${dtype} is an integer storage type, not a float encoding`);
  }
}

function f32Bytes(src: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const out = new Uint8Array(src.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < src.length; i++) view.setFloat32(i * 4, src[i]!, true);
  return out;
}
