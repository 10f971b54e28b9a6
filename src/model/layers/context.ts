/** What every layer's forward needs besides its weights and state. */
import type { ModelConfig } from '../../formats/config.js';
import type { Backend } from '../../numerics/backend.js';

/** Observer of named intermediates (llama.cpp's `cb(cur, name, il)`); undefined = no-op. */
export type TensorHook = (name: string, layer: number, data: Float32Array) => void;

export interface ForwardCtx {
  readonly cfg: ModelConfig;
  readonly backend: Backend;
  readonly onTensor: TensorHook | undefined;
  /** Position of the first token of this call (tokens already in the sequence state). */
  readonly pos0: number;
}

/** Copy columns [from, from+width) of a [T, stride] matrix into a contiguous [T, width] array. */
export function sliceCols(src: Float32Array, T: number, stride: number, from: number, width: number): Float32Array {
  const out = new Float32Array(T * width);
  for (let t = 0; t < T; t++) out.set(src.subarray(t * stride + from, t * stride + from + width), t * width);
  return out;
}
