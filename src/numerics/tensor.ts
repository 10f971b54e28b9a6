/**
 * Storage types shared by every layer of Tandem.
 *
 * A `Matrix` is a weight in its stored format: `rows × cols` in PyTorch order ([out, in]), row-major, one row of
 * `cols` elements after another, each row encoded in `dtype` (block formats pack a row as `cols / blockSize`
 * consecutive blocks). Backends compute on it as it is; nothing dequantizes a whole matrix up front.
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';

export interface Matrix {
  readonly dtype: DType;
  readonly rows: number;
  readonly cols: number;
  /** Exactly `rows * rowBytes(dtype, cols)` bytes. May be a view into a file buffer (zero-copy). */
  readonly data: Uint8Array;
}

/** Elements per block and bytes per block of each storage type. */
export const DTYPE_LAYOUT: Readonly<Record<DType, { readonly blockSize: number; readonly blockBytes: number }>> = {
  f32: { blockSize: 1, blockBytes: 4 },
  f16: { blockSize: 1, blockBytes: 2 },
  bf16: { blockSize: 1, blockBytes: 2 },
  q8_0: { blockSize: 32, blockBytes: 34 },
  q4_0: { blockSize: 32, blockBytes: 18 },
};

export function rowBytes(dtype: DType, cols: number): number {
  const { blockSize, blockBytes } = DTYPE_LAYOUT[dtype];
  return (cols / blockSize) * blockBytes;
}

/** Bytes needed to store `count` elements of `dtype` (count must be a multiple of the block size). */
export function tensorBytes(dtype: DType, count: number): number {
  return rowBytes(dtype, count);
}
