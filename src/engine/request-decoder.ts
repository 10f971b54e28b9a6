/**
 * The output side of one request: turns each row of last-token logits into the next token and the events to
 * stream. Per request, so batching never changes a request's result: its own seeded sampler, repetition history
 * (prompt + generated), UTF-8-safe detokenizer, stop matcher, EOS set, token and context limits.
 * Mirrors the loop of `generate()` (generate.ts) decision for decision, so the tokens are the same.
 */
import { createSampler, type Sampler } from '../model/sample.js';
import { IncrementalDetokenizer } from '../text/detokenizer.js';
import { StopMatcher } from '../text/stop.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import type { FinishReason } from './generate.js';
import { tokenLogprob } from './logprobs.js';
import type { GenerationRequest, ServiceEvent, TokenLogprob } from './service.js';

export interface DecodeOutcome {
  /** Events to emit, in order; the last is `finish` when the request is done. */
  readonly events: ServiceEvent[];
  /** The token to feed next step; undefined when the request finished. */
  readonly next: number | undefined;
}

export class RequestDecoder {
  readonly #req: GenerationRequest;
  readonly #maxContext: number;
  readonly #sampler: Sampler;
  readonly #detok: IncrementalDetokenizer;
  readonly #stop: StopMatcher;
  readonly #eos: ReadonlySet<number>;
  readonly #history: number[];
  #generated = 0;
  /** Prompt tokens restored from the context cache (reported in usage). */
  cachedTokens = 0;

  /** Throws a `TandemError` (BAD_ARGUMENT) for invalid sampling options or an empty stop string. */
  constructor(req: GenerationRequest, tok: TextTokenizer, maxContext: number) {
    this.#req = req;
    this.#maxContext = maxContext;
    this.#sampler = createSampler(req.sampling);
    this.#detok = new IncrementalDetokenizer(tok, { skipSpecial: true });
    this.#stop = new StopMatcher(req.stop);
    this.#eos = new Set(req.ignoreEos ? [] : tok.eosIds);
    this.#history = [...req.prompt];
  }

  get completionTokens(): number {
    return this.#generated;
  }

  /**
   * Sample from `logits` (the last token's row), where `position` is the number of tokens now in the state.
   * As in generate(): EOS ends the stream unseen; a completed stop string ends it after the token that completed
   * it; max tokens or a full context end it after the token was emitted.
   */
  next(logits: Float32Array, position: number): DecodeOutcome {
    if (this.#generated >= this.#req.maxTokens) return this.#finish([], 'length');
    const id = this.#sampler.sample(logits, this.#history);
    if (this.#eos.has(id)) return this.#finish([], 'eos');
    this.#generated++;
    this.#history.push(id);
    const logprob = this.#req.topLogprobs === undefined ? undefined : tokenLogprob(logits, id, this.#req.topLogprobs);
    const { emit, stopped } = this.#stop.push(this.#detok.push(id));
    if (stopped) return this.#finish([this.#token(id, emit, logprob)], 'stop');
    if (this.#generated >= this.#req.maxTokens || position >= this.#maxContext) {
      return this.#finish([this.#token(id, emit + this.#tail(), logprob)], 'length');
    }
    return { events: [this.#token(id, emit, logprob)], next: id };
  }

  #token(token: number, text: string, logprob: TokenLogprob | undefined): ServiceEvent {
    return logprob ? { type: 'token', token, text, logprob } : { type: 'token', token, text };
  }

  /** Text still held by the detokenizer and the stop matcher (the stream ends without a stop string). */
  #tail(): string {
    return this.#stop.push(this.#detok.flush()).emit + this.#stop.flush();
  }

  #finish(events: ServiceEvent[], reason: FinishReason): DecodeOutcome {
    const usage = { promptTokens: this.#req.prompt.length, completionTokens: this.#generated, cachedTokens: this.cachedTokens };
    const text = reason === 'eos' ? this.#tail() : ''; // on 'length' the tail rode on the last token event
    events.push(text ? { type: 'finish', reason, usage, text } : { type: 'finish', reason, usage });
    return { events, next: undefined };
  }
}
