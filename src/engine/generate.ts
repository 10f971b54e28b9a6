/**
 * Single-sequence generation: prefill the prompt (in chunks), then decode token by token with a sampler, streaming
 * UTF-8-safe text deltas and stopping on EOS, a stop string or max tokens. Emits a discriminated union of parts.
 */
import { TandemError } from '../errors.js';
import { forward, newState, type Model } from '../model/nemotron-h.js';
import { createSampler, type SamplingOptions } from '../model/sample.js';
import type { SequenceState } from '../model/state.js';
import { IncrementalDetokenizer } from '../text/detokenizer.js';
import { StopMatcher } from '../text/stop.js';
import type { TextTokenizer } from '../text/tokenizer.js';

export type FinishReason = 'stop' | 'length' | 'eos';

export interface GenerationStats {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly prefillMs: number;
  /** Single-token forward passes after the prefill (the first token comes from the prefill's logits). */
  readonly decodeSteps: number;
  readonly decodeMs: number;
}

export type GeneratePart =
  | { readonly type: 'text-delta'; readonly text: string }
  | { readonly type: 'finish'; readonly reason: FinishReason; readonly tokens: readonly number[]; readonly stats: GenerationStats };

export interface GenerateOptions {
  readonly maxTokens: number;
  readonly sampling: SamplingOptions;
  readonly stop?: readonly string[];
  /** Prompt tokens per forward call during prefill (default 256). */
  readonly prefillChunk?: number;
  /** Continue this state instead of starting a new sequence (it is advanced in place). */
  readonly state?: SequenceState;
}

/** Prefill `tokens` into `state` in chunks; returns the logits of the last token. */
export function prefill(model: Model, state: SequenceState, tokens: readonly number[], chunk = 256): Float32Array {
  if (tokens.length === 0) throw new TandemError('BAD_INPUT', 'the prompt is empty: give at least one token');
  let logits: Float32Array = new Float32Array(0);
  for (let i = 0; i < tokens.length; i += chunk) logits = forward(model, state, tokens.slice(i, i + chunk));
  return logits;
}

export function* generate(model: Model, tok: TextTokenizer, promptIds: readonly number[], opts: GenerateOptions): Generator<GeneratePart> {
  const { maxPositions } = model.config;
  const state = opts.state ?? newState(model);
  if (state.tokens.length + promptIds.length > maxPositions) {
    throw new TandemError('BAD_INPUT', `prompt of ${promptIds.length} tokens exceeds the model's context of ${maxPositions} tokens; shorten it`);
  }
  const t0 = performance.now();
  let logits = prefill(model, state, promptIds, opts.prefillChunk);
  const prefillMs = performance.now() - t0;
  const sampler = createSampler(opts.sampling);
  const detok = new IncrementalDetokenizer(tok, { skipSpecial: true });
  const stop = new StopMatcher(opts.stop ?? []);
  const eos = new Set(tok.eosIds);
  const out: number[] = [];
  const history = [...state.tokens];
  let reason: FinishReason = 'length';
  let decodeSteps = 0;
  const t1 = performance.now();
  while (out.length < opts.maxTokens) {
    const id = sampler.sample(logits, history);
    if (eos.has(id)) {
      reason = 'eos';
      break;
    }
    out.push(id);
    history.push(id);
    const { emit, stopped } = stop.push(detok.push(id));
    if (emit) yield { type: 'text-delta', text: emit };
    if (stopped) {
      reason = 'stop';
      break;
    }
    if (out.length >= opts.maxTokens || state.tokens.length >= maxPositions) break;
    logits = forward(model, state, [id]);
    decodeSteps++;
  }
  if (reason !== 'stop') {
    const tail = stop.push(detok.flush()).emit + stop.flush();
    if (tail) yield { type: 'text-delta', text: tail };
  }
  const stats = { promptTokens: promptIds.length, completionTokens: out.length, prefillMs, decodeSteps, decodeMs: performance.now() - t1 };
  yield { type: 'finish', reason, tokens: out, stats };
}
