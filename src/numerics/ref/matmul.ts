/**
 * Reference matmul over any stored weight format: decode one weight row at a time, dot it with every input row.
 * When the weight carries an activation format (emulation of W8A8 / W4A4 or of ggml's vec_dot types), the input rows
 * are first quantized and dequantized the way the real kernel quantizes them.
 */
import type { Matrix } from '../tensor.js';
import { decodeRow } from '../dtypes/index.js';
import { fakeQuantRow } from '../dtypes/activation-quant.js';

/** The input as the kernel sees it: `x` itself, or a fake-quantized copy. */
export function kernelInput(x: Float32Array, T: number, w: Matrix): Float32Array {
  if (!w.act) return x;
  const q = x.slice(0, T * w.cols);
  for (let t = 0; t < T; t++) fakeQuantRow(q.subarray(t * w.cols, (t + 1) * w.cols), w.cols, w.act);
  return q;
}

/** out[t, r] = Σ_c x[t, c] · W[r, c] with f32 storage and f64 accumulation. x: [T, cols], out: [T, rows]. */
export function matmulRef(out: Float32Array, x: Float32Array, T: number, w: Matrix): void {
  const { rows, cols } = w;
  const xin = kernelInput(x, T, w);
  const row = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    decodeRow(w, r, row);
    for (let t = 0; t < T; t++) {
      const xo = t * cols;
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += xin[xo + c]! * row[c]!;
      out[t * rows + r] = acc;
    }
  }
}

/** out[i, :] = W[ids[i], :]. */
export function embedRef(out: Float32Array, w: Matrix, ids: readonly number[]): void {
  ids.forEach((id, i) => decodeRow(w, id, out, i * w.cols));
}
