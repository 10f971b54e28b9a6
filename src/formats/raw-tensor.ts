import type { DType } from '../numerics/tensor.js';

/**
 * One tensor as stored in a checkpoint file, before any interpretation.
 * `shape` is in PyTorch order (outermost dimension first) for both safetensors and GGUF
 * (GGUF's `ne` order is innermost first; the GGUF reader reverses it). `data` is a view into the file's bytes
 * (zero-copy) holding exactly the tensor's encoded bytes.
 */
export interface RawTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** Tensors of one checkpoint (all shards), by name. */
export type TensorMap = ReadonlyMap<string, RawTensor>;
