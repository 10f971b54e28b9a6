/**
 * Which weights the native kernels take, and their format ids (native/src/common.h `Fmt`). The bytes are repacked by
 * the addon itself (G16 layout: rows in groups of 16, per column block the 16 rows' scales then their codes; see
 * native/src/common.h). Everything else runs on the delegate backend (wasm, else ref).
 */
import { DTYPE_LAYOUT, type Matrix } from '../tensor.js';

export const NATIVE_FORMAT = { f32: 0, f16: 1, bf16: 2, q8_0: 3, q4_0: 4, ggml_nvfp4: 5 } as const;
export type NativeDType = keyof typeof NATIVE_FORMAT;

export type NativePlan = { readonly kind: 'native'; readonly fmt: number } | { readonly kind: 'delegate'; readonly reason: string };

const isNative = (d: string): d is NativeDType => Object.hasOwn(NATIVE_FORMAT, d);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The native format of `m`, or why it runs on the delegate backend. */
export function nativePlan(m: Matrix): NativePlan {
  if (!isNative(m.dtype)) return { kind: 'delegate', reason: `no native kernel for ${m.dtype}` };
  if (!LITTLE_ENDIAN) return { kind: 'delegate', reason: 'big-endian host' };
  const { blockSize, blockBytes } = DTYPE_LAYOUT[m.dtype];
  const ok = Number.isInteger(m.rows) && Number.isInteger(m.cols) && m.rows > 0 && m.cols > 0 && m.rows < 2 ** 31 && m.cols < 2 ** 31;
  if (!ok || m.cols % blockSize !== 0 || m.data.length < ((m.rows * m.cols) / blockSize) * blockBytes) {
    return { kind: 'delegate', reason: `a ${m.rows}×${m.cols} ${m.dtype} matrix whose buffers do not match its shape` };
  }
  return { kind: 'native', fmt: NATIVE_FORMAT[m.dtype] };
}
