/**
 * Mamba-2 mixer (`M`), spec nemotron-h.md §3.3. Reference: HF `NemotronHMamba2Mixer.torch_forward` (inherited from
 * Zamba2) and llama.cpp `build_mamba2_layer`.
 *
 * Glossary: T tokens · H hidden · nh heads · P head dim · N state size · G B/C groups · K conv width ·
 * Di = nh·P inner width · Cd = Di + 2GN conv channels · Δ time step · A = −exp(A_log) decay · D skip.
 *
 *   zxbcdt = a·in_projᵀ                       [T, 2Di+2GN+nh], order z | xBC | dt
 *   xBC    = SiLU(causal_conv(xBC) + b)       [T, Cd]
 *   x|B|C  = split(xBC)                       [T, Di] | [T, GN] | [T, GN]
 *   y      = SSD(x, Δ=softplus(dt+dt_bias), A, B, C) + D·x   [T, Di]   (chunked for prefill, sequential for decode)
 *   out    = out_proj(RMSNorm_G(y · SiLU(z)) · w)              [T, H]    gate BEFORE the grouped norm
 */
import type { MambaWeights } from '../../formats/weights.js';
import type { MambaState } from '../state.js';
import { sliceCols, type ForwardCtx } from './context.js';
import { bf16ToF32, f32ToBf16 } from '../../numerics/dtypes/bf16.js';

const bf16ToF32Array = (a: Uint16Array): Float32Array => Float32Array.from(a, bf16ToF32);
const f32ToBf16Array = (a: Float32Array): Uint16Array => Uint16Array.from(a, f32ToBf16);

export function mamba2Forward(ctx: ForwardCtx, il: number, w: MambaWeights, st: MambaState, a: Float32Array, T: number, out: Float32Array): void {
  const { backend: be, cfg, onTensor } = ctx;
  const { dInner: Di, convDim: Cd, inProjDim, numHeads: nh, headDim: P, stateSize: N, nGroups: G } = cfg.mamba;
  const zxbcdt = new Float32Array(T * inProjDim);
  be.matmul(zxbcdt, a, T, w.inProj); //                                           [T, 2Di+2GN+nh]
  onTensor?.('ssm_in', il, zxbcdt);
  const xBC = sliceCols(zxbcdt, T, inProjDim, Di, Cd); //                           [T, Cd]
  const dt = sliceCols(zxbcdt, T, inProjDim, Di + Cd, nh); //                       [T, nh]
  const xBCc = new Float32Array(T * Cd);
  be.conv1d({ T, channels: Cd, kernel: cfg.mamba.convKernel, x: xBC, weight: w.convW, bias: w.convB, state: st.conv, out: xBCc });
  onTensor?.('conv_out', il, xBCc);
  const x = sliceCols(xBCc, T, Cd, 0, Di); //                                       [T, nh·P]
  const B = sliceCols(xBCc, T, Cd, Di, G * N); //                                   [T, G·N]
  const C = sliceCols(xBCc, T, Cd, Di + G * N, G * N); //                           [T, G·N]
  const y = new Float32Array(T * Di);
  const state = st.ssmFormat === 'f32' ? st.ssm : bf16ToF32Array(st.ssm); //      [nh, P, N] working copy for BF16 storage
  const scan = {
    T, numHeads: nh, headDim: P, stateSize: N, nGroups: G, x, B, C, dt, dtBias: w.dtBias,
    dtLimit: cfg.mamba.timeStepLimit, A: w.A, D: w.D, state, y, chunkSize: cfg.mamba.chunkSize,
  };
  if (T === 1) be.ssmScan(scan);
  else be.ssdChunkScan(scan);
  if (st.ssmFormat === 'bf16') st.ssm.set(f32ToBf16Array(state)); //              rounded back to BF16 after each call
  onTensor?.('ssd_y', il, y); //                                                   [T, Di] incl. D·x
  be.siluGate(y, zxbcdt, T, Di, inProjDim); //                                      y · SiLU(z)
  const yn = new Float32Array(T * Di);
  be.rmsNorm(yn, y, T, Di, w.gateNorm, cfg.eps, Di / G); //                         grouped RMSNorm, G groups of Di/G
  onTensor?.('ssm_norm', il, yn);
  be.matmul(out, yn, T, w.outProj); //                                              [T, H]
}
