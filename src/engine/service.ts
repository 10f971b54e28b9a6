/**
 * The inference service contract between the HTTP layer and whatever generates tokens: the in-process engine
 * (engine/engine.ts, continuous batching) or the disaggregated frontend (serving/disagg, prefill + decode workers).
 * Everything here is plain data so it can cross a process boundary unchanged.
 */
import type { SamplingOptions } from '../model/sample.js';
import type { FinishReason } from './generate.js';

export interface GenerationRequest {
  readonly id: string;
  /** Prompt token ids (already templated and tokenized by the caller). */
  readonly prompt: readonly number[];
  readonly sampling: SamplingOptions;
  readonly maxTokens: number;
  readonly stop: readonly string[];
  /** Return the log-probability of each sampled token and this many alternatives (0 = none, undefined = off). */
  readonly topLogprobs?: number;
  /** Keep generating past EOS (benchmarks). */
  readonly ignoreEos?: boolean;
}

export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
  readonly top: readonly { readonly token: number; readonly logprob: number }[];
}

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Prompt tokens whose state was reused from a cache instead of recomputed (0 until the context cache lands). */
  readonly cachedTokens: number;
}

/** What a request yields, in order: zero or more `token`s, then exactly one `finish` or `error`. */
export type ServiceEvent =
  | { readonly type: 'token'; readonly token: number; readonly text: string; readonly logprob?: TokenLogprob }
  /**
   * `text`: output text held back until the end (a partial stop-string prefix, an incomplete UTF-8 character) that
   * no token event carried; only when the stream ends on EOS, since on 'length' it rides on the last token event.
   */
  | { readonly type: 'finish'; readonly reason: FinishReason; readonly usage: Usage; readonly text?: string }
  | { readonly type: 'error'; readonly status: number; readonly code: string; readonly message: string };

export interface ServiceStats {
  readonly running: number;
  readonly waiting: number;
  /** Sequence states alive right now (must return to 0 when idle: the leak check). */
  readonly liveStates: number;
  readonly promptTokensTotal: number;
  readonly generationTokensTotal: number;
  readonly requestsFinished: Readonly<Record<string, number>>;
}

export interface InferenceService {
  /** Model name reported by /v1/models. */
  readonly modelName: string;
  readonly maxContext: number;
  /**
   * Start a request. Throws `ServiceFullError` when the admission queue is full (HTTP 429). Aborting `signal`
   * cancels the request in any phase and frees its state at once; the iterator then ends.
   */
  submit(req: GenerationRequest, signal: AbortSignal): AsyncIterable<ServiceEvent>;
  stats(): ServiceStats;
  close(): Promise<void>;
}

export class ServiceFullError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`the server is at capacity; retry after ${retryAfterSeconds} s`);
    this.name = 'ServiceFullError';
  }
}
