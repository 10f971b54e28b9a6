/**
 * A scripted `InferenceService` for tests of anything above the engine (HTTP layer, load generator, agents): it
 * replays scripted events per request, records every call, and records aborts. No model, no tokenizer.
 *
 *   const svc = new FakeInferenceService({ script: () => textScript(['Hel', 'lo']) });
 *   ... svc.calls[0].req.sampling.seed, await svc.calls[0].aborted ...
 */
import type { FinishReason } from '../engine/generate.js';
import {
  ServiceFullError,
  type GenerationRequest,
  type InferenceService,
  type ServiceEvent,
  type ServiceStats,
  type TokenLogprob,
} from '../engine/service.js';

/** A scripted step: an event, a pause, or a wait that only an abort ends (to test cancellation). */
export type FakeStep = ServiceEvent | { readonly type: 'delay'; readonly ms: number } | { readonly type: 'hang' };

export interface FakeCall {
  readonly req: GenerationRequest;
  readonly signal: AbortSignal;
  /** Resolves when the request's signal aborts (never, for requests that finish). */
  readonly aborted: Promise<void>;
  /** Whether the script ran to its end (finish or error event delivered). */
  completed: boolean;
}

export interface FakeServiceOptions {
  readonly modelName?: string;
  readonly maxContext?: number;
  /** Steps for one request (default: `textScript(['Hello', ' world'])`). Token events past `maxTokens` are cut. */
  readonly script?: (req: GenerationRequest) => readonly FakeStep[];
}

export interface TextScriptOptions {
  readonly reason?: FinishReason;
  /** Default: the request's prompt length is used when the script goes through `FakeInferenceService`. */
  readonly promptTokens?: number;
  readonly cachedTokens?: number;
  /** Milliseconds between tokens. */
  readonly delayMs?: number;
  /** Text held back to the end, delivered on the `finish` event (as the engine does for a partial stop prefix). */
  readonly tail?: string;
  /** Attach a logprob (token id = position, logprob = -0.5, alternatives below it) to each token. */
  readonly logprobs?: number;
}

/** One token event per piece, then `finish`; token ids are the piece positions (10, 11, …). */
export function textScript(pieces: readonly string[], o: TextScriptOptions = {}): FakeStep[] {
  const steps: FakeStep[] = [];
  pieces.forEach((text, i) => {
    if (o.delayMs !== undefined && o.delayMs > 0) steps.push({ type: 'delay', ms: o.delayMs });
    const token = 10 + i;
    const logprob: TokenLogprob | undefined =
      o.logprobs === undefined ? undefined : { token, logprob: -0.5, top: Array.from({ length: o.logprobs }, (_, k) => ({ token: token + k, logprob: -0.5 - k })) };
    steps.push(logprob ? { type: 'token', token, text, logprob } : { type: 'token', token, text });
  });
  const usage = { promptTokens: o.promptTokens ?? -1, completionTokens: pieces.length, cachedTokens: o.cachedTokens ?? 0 };
  steps.push({ type: 'finish', reason: o.reason ?? 'eos', usage, ...(o.tail !== undefined ? { text: o.tail } : {}) });
  return steps;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });

export class FakeInferenceService implements InferenceService {
  readonly modelName: string;
  readonly maxContext: number;
  readonly calls: FakeCall[] = [];
  /** While set, `submit` throws `ServiceFullError(full)` (seconds to retry after). */
  full: number | undefined;
  closed = false;
  readonly #script: (req: GenerationRequest) => readonly FakeStep[];
  #running = 0;
  #finished: Record<string, number> = {};
  #prompt = 0;
  #generated = 0;

  constructor(o: FakeServiceOptions = {}) {
    this.modelName = o.modelName ?? 'fake-model';
    this.maxContext = o.maxContext ?? 256;
    this.#script = o.script ?? (() => textScript(['Hello', ' world']));
  }

  submit(req: GenerationRequest, signal: AbortSignal): AsyncIterable<ServiceEvent> {
    if (this.full !== undefined) throw new ServiceFullError(this.full);
    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    const call: FakeCall = { req, signal, aborted, completed: false };
    this.calls.push(call);
    return this.#run(call);
  }

  async *#run(call: FakeCall): AsyncGenerator<ServiceEvent> {
    const { req, signal } = call;
    this.#running++;
    let tokens = 0;
    try {
      for (const step of this.#script(req)) {
        if (signal.aborted) return;
        if (step.type === 'delay') await sleep(step.ms, signal);
        else if (step.type === 'hang') await call.aborted;
        else if (step.type === 'token') {
          if (tokens >= req.maxTokens) continue;
          tokens++;
          this.#generated++;
          yield step;
        } else {
          const reason = step.type === 'finish' && tokens >= req.maxTokens && tokens < step.usage.completionTokens ? 'length' : undefined;
          yield this.#fill(step, req, tokens, reason);
          call.completed = true;
          return;
        }
        if (signal.aborted) return;
      }
    } finally {
      this.#running--;
      const key = call.completed ? 'done' : 'abort';
      this.#finished[key] = (this.#finished[key] ?? 0) + 1;
      this.#prompt += req.prompt.length;
    }
  }

  /** Fills the prompt length and the real token count into a scripted finish. */
  #fill(ev: ServiceEvent, req: GenerationRequest, tokens: number, reason: FinishReason | undefined): ServiceEvent {
    if (ev.type !== 'finish') return ev;
    const promptTokens = ev.usage.promptTokens < 0 ? req.prompt.length : ev.usage.promptTokens;
    return { ...ev, reason: reason ?? ev.reason, usage: { ...ev.usage, promptTokens, completionTokens: tokens } };
  }

  stats(): ServiceStats {
    return {
      running: this.#running,
      waiting: 0,
      liveStates: this.#running,
      promptTokensTotal: this.#prompt,
      generationTokensTotal: this.#generated,
      requestsFinished: { ...this.#finished },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
