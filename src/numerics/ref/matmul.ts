/** Reference matmul over any stored weight format: decode one weight row at a time, dot it with every input row. */
import type { Matrix } from '../tensor.js';
import { decodeRow } from '../dtypes/index.js';

/** out[t, r] = Σ_c x[t, c] · W[r, c] with f32 accumulation (sequential over c). x: [T, cols], out: [T, rows]. */
export function matmulRef(out: Float32Array, x: Float32Array, T: number, w: Matrix): void {
  const { rows, cols } = w;
  const row = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    decodeRow(w, r, row);
    for (let t = 0; t < T; t++) {
      const xo = t * cols;
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += x[xo + c]! * row[c]!;
      out[t * rows + r] = acc;
    }
  }
}

/** out[i, :] = W[ids[i], :]. */
export function embedRef(out: Float32Array, w: Matrix, ids: readonly number[]): void {
  ids.forEach((id, i) => decodeRow(w, id, out, i * w.cols));
}
