/**
 * Dense MLP (`-`), spec nemotron-h.md §3.5: non-gated ReLU², out = down(relu(up(a))²). Reference: HF `NemotronHMLP`,
 * llama.cpp `LLM_FFN_RELU_SQR`.
 */
import type { Matrix } from '../../numerics/tensor.js';
import type { MlpWeights } from '../../formats/weights.js';
import type { ForwardCtx } from './context.js';

/** down(ReLU(up(a))²) for T rows; shared by the dense MLP and every MoE expert. */
export function relu2Mlp(ctx: ForwardCtx, up: Matrix, down: Matrix, a: Float32Array, T: number, out: Float32Array): void {
  const h = new Float32Array(T * up.rows);
  ctx.backend.matmul(h, a, T, up); //                                               [T, F]
  ctx.backend.relu2(h, h.length);
  ctx.backend.matmul(out, h, T, down); //                                           [T, H]
}

export function mlpForward(ctx: ForwardCtx, il: number, w: MlpWeights, a: Float32Array, T: number, out: Float32Array): void {
  relu2Mlp(ctx, w.up, w.down, a, T, out);
  ctx.onTensor?.('ffn_out', il, out);
}
