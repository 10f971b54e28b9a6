/**
 * Nemotron-H forward pass (spec nemotron-h.md §3.1–3.2): hybrid as data. Each block is
 *   h ← h + Mixer_i(RMSNorm(h; norm_i)),  Mixer_i ∈ {Mamba-2, attention, ReLU² MLP, MoE} chosen by cfg.layers[i];
 * then logits = RMSNorm(h; norm_f)·lm_headᵀ. No positional encoding anywhere.
 * Reference: llama.cpp `src/models/nemotron-h.cpp`; HF `NemotronHForCausalLM`.
 */
import { TandemError } from '../errors.js';
import type { ModelConfig } from '../formats/config.js';
import type { LayerWeights, ModelWeights } from '../formats/weights.js';
import type { Backend } from '../numerics/backend.js';
import type { ForwardCtx, TensorHook } from './layers/context.js';
import { mamba2Forward } from './layers/mamba2.js';
import { attentionForward } from './layers/attention.js';
import { mlpForward } from './layers/mlp.js';
import { moeForward } from './layers/moe.js';
import { createState, type LayerState, type SequenceState, type StateFormat } from './state.js';

export interface Model {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly backend: Backend;
  /** Identity of config + weights; sequence states carry it. */
  readonly fingerprint: string;
  /** How new sequence states store KV and SSM state. */
  readonly stateFormat: StateFormat;
}

/** A fresh (empty) sequence state for this model, in the model's state format. */
export function newState(model: Model): SequenceState {
  return createState(model.config, model.fingerprint, model.stateFormat);
}

export interface ForwardOptions {
  /** 'last' (default) computes logits for the final token only; 'all' for every token of the call. */
  readonly logits?: 'last' | 'all';
  readonly onTensor?: TensorHook;
}

function assertNever(x: never): never {
  throw new Error(`unhandled layer kind ${String(x)}`);
}

function runMixer(ctx: ForwardCtx, il: number, w: LayerWeights, st: LayerState, a: Float32Array, T: number, out: Float32Array): void {
  switch (w.kind) {
    case 'mamba2':
      if (st.kind !== 'mamba2') throw new Error(`layer ${il}: state kind ${st.kind} for a mamba2 layer`);
      return mamba2Forward(ctx, il, w, st, a, T, out);
    case 'attention':
      if (st.kind !== 'attention') throw new Error(`layer ${il}: state kind ${st.kind} for an attention layer`);
      return attentionForward(ctx, il, w, st, a, T, out);
    case 'mlp':
      return mlpForward(ctx, il, w, a, T, out);
    case 'moe':
      return moeForward(ctx, il, w, a, T, out);
    default:
      return assertNever(w);
  }
}

function checkInput(model: Model, state: SequenceState, tokens: readonly number[]): void {
  const { vocabSize, maxPositions } = model.config;
  if (state.model !== model.fingerprint) throw new TandemError('BAD_STATE', 'sequence state belongs to another model');
  if (tokens.length === 0) throw new TandemError('BAD_INPUT', 'no tokens to process (empty prompt)');
  const bad = tokens.find((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
  if (bad !== undefined) throw new TandemError('BAD_INPUT', `token id ${bad} is outside the vocabulary [0, ${vocabSize})`);
  if (state.tokens.length + tokens.length > maxPositions) {
    throw new TandemError('BAD_INPUT', `sequence of ${state.tokens.length + tokens.length} tokens exceeds the model's context of ${maxPositions}`);
  }
}

/**
 * Run `tokens` through the model, continuing `state` (which is updated in place: KV appended, conv/SSM advanced,
 * tokens recorded). Returns logits [1, V] for the last token, or [T, V] with `logits: 'all'`.
 */
export function forward(model: Model, state: SequenceState, tokens: readonly number[], opts: ForwardOptions = {}): Float32Array {
  checkInput(model, state, tokens);
  const { config: cfg, weights: W, backend: be } = model;
  const T = tokens.length;
  const H = cfg.hiddenSize;
  const ctx: ForwardCtx = { cfg, backend: be, onTensor: opts.onTensor, pos0: state.tokens.length };
  const h = new Float32Array(T * H); //                                             residual stream [T, H]
  be.embed(h, W.embed, tokens);
  const a = new Float32Array(T * H);
  const out = new Float32Array(T * H);
  W.layers.forEach((lw, il) => {
    be.rmsNorm(a, h, T, H, lw.norm, cfg.eps, H); //                                 pre-norm
    runMixer(ctx, il, lw, state.layers[il]!, a, T, out);
    be.addScaled(h, out, T * H, 1); //                                              residual add
    ctx.onTensor?.('l_out', il, h);
  });
  state.tokens.push(...tokens);
  const rows = opts.logits === 'all' ? T : 1;
  const last = h.subarray((T - rows) * H);
  const u = new Float32Array(rows * H);
  be.rmsNorm(u, last, rows, H, W.normF, cfg.eps, H); //                             final norm
  const logits = new Float32Array(rows * cfg.vocabSize);
  be.matmul(logits, u, rows, W.lmHead); //                                          [rows, V]
  return logits;
}
