/**
 * The in-process inference service: continuous batching over one model (STYLE P11).
 *
 * A loop runs `step()` (schedule → execute → commit) while there is work, yielding to the event loop between
 * steps (`setImmediate`) so HTTP I/O and aborts are served. Each request streams `ServiceEvent`s through its own
 * push queue; its output side (sampler, detokenizer, stop strings, limits) lives in a `RequestDecoder`, so a
 * request produces the same tokens as `generate()` whatever else is batched with it.
 *
 * Failure isolation: an item whose forward or sampling throws fails only its request (an `error` event, status
 * 500); the engine keeps serving. Cancellation (the request's AbortSignal, or the consumer leaving its iterator)
 * removes the request from the scheduler and drops its state at once, in any phase.
 *
 * For disaggregation, `prefillOnly` runs just the prompt (batched with everything else) and hands the state out;
 * `submitResumed` continues decoding from such a state, producing the tokens an aggregated `submit` would.
 */
import { basename } from 'node:path';
import type { CacheLookup, ContextCache } from '../cache/context-cache.js';
import type { SnapshotReason } from '../cache/tier.js';
import { snapshotPoints } from './snapshot-points.js';
import { isTandemError } from '../errors.js';
import type { Model } from '../model/nemotron-h.js';
import type { SequenceState } from '../model/state.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import { EventStream } from './event-stream.js';
import type { LoadedModel } from './load-model.js';
import { RequestDecoder, type DecodeOutcome } from './request-decoder.js';
import { Runner, type ItemOutput } from './runner.js';
import { Scheduler, type SchedulerOptions, type StepPlan, type StepResult } from './scheduler.js';
import { ServiceFullError, type GenerationRequest, type InferenceService, type ServiceEvent, type ServiceStats } from './service.js';
import { step, StepFailedError } from './step.js';

export interface EngineOptions extends SchedulerOptions {
  /** Reported by /v1/models; default: the checkpoint's file or directory name. */
  readonly modelName?: string;
  /** Called with each unexpected (status 500) error; default console.error. */
  readonly onError?: (error: unknown, requestId: string) => void;
  /**
   * The context cache (src/cache): prompts are looked up at admission and only the uncached rest is prefilled;
   * snapshots are stored one token before the end of every prompt (so an identical resend hits at length − 1),
   * on the 256-token grid inside long prompts, at branch points (where the prompt leaves a cached path), and at the
   * end of every request (all processed tokens, for the next turn); see snapshot-points.ts. Default: none.
   */
  readonly cache?: ContextCache;
  /** Cache namespace salt (tenant); default none. */
  readonly cacheSalt?: string;
}

/** A prompt's state after prefill, with the last token's logits [V]; what a prefill worker hands to a decode worker. */
export interface PrefillResult {
  readonly state: SequenceState;
  readonly logits: Float32Array;
}

/** Why a request was refused or failed, with the HTTP status and a stable code (`prefillOnly` rejects with it). */
export class EngineRequestError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'EngineRequestError';
  }
}

type Sink =
  | { readonly kind: 'stream'; readonly decoder: RequestDecoder; readonly events: EventStream<ServiceEvent> }
  | { readonly kind: 'prefill'; readonly resolve: (r: PrefillResult) => void; readonly reject: (e: unknown) => void };

interface Live {
  readonly key: string;
  readonly req: GenerationRequest;
  readonly sink: Sink;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

/** `requestsFinished` keys besides the finish reasons. */
type EndKind = 'stop' | 'length' | 'eos' | 'error' | 'abort' | 'prefilled';

export class LocalEngine implements InferenceService {
  readonly modelName: string;
  readonly maxContext: number;
  readonly #model: Model;
  readonly #tok: TextTokenizer;
  readonly #scheduler: Scheduler;
  readonly #runner: Runner;
  readonly #onError: (error: unknown, requestId: string) => void;
  readonly #cache: ContextCache | undefined;
  readonly #ns: string;
  readonly #live = new Map<string, Live>();
  /** Where the runner snapshots each request's prefill (absolute positions, ascending); cache only. */
  readonly #points = new Map<string, ReturnType<typeof snapshotPoints>>();
  #nextKey = 0;
  #tickQueued = false;
  #closed = false;
  #promptTokens = 0;
  #generationTokens = 0;
  readonly #ended: Record<string, number> = {};

  constructor(loaded: LoadedModel, opts: EngineOptions = {}) {
    this.#model = loaded.model;
    this.#tok = loaded.tokenizer();
    this.#scheduler = new Scheduler(opts);
    this.#runner = new Runner(loaded.model, opts.cache ? {
      points: (id) => this.#points.get(id),
      snapshot: (id, reason) => this.#snapshot(id, reason),
    } : undefined);
    this.#onError = opts.onError ?? ((e, id) => console.error(`tandem engine: request ${id} failed:`, e));
    this.#cache = opts.cache;
    this.#ns = opts.cache?.namespace(opts.cacheSalt) ?? '';
    this.modelName = opts.modelName ?? basename(loaded.path).replace(/\.gguf$/, '');
    this.maxContext = loaded.model.config.maxPositions;
  }

  submit(req: GenerationRequest, signal: AbortSignal): AsyncIterable<ServiceEvent> {
    const key = this.#newKey();
    const events = new EventStream<ServiceEvent>(() => this.#cancel(key));
    const decoder = this.#prepare(req, signal, events);
    if (!decoder) return events;
    this.#scheduler.assertCanAdmit();
    this.#register(key, req, { kind: 'stream', decoder, events }, signal);
    this.#admit(key, req.prompt, decoder);
    return events;
  }

  /** Prefill `req.prompt` only; the state's ownership moves to the caller. Rejects with `EngineRequestError`. */
  prefillOnly(req: GenerationRequest, signal: AbortSignal): Promise<PrefillResult> {
    return new Promise<PrefillResult>((resolve, reject) => {
      const bad = this.#check(req);
      if (bad) return reject(bad);
      if (signal.aborted) return reject(signal.reason);
      this.#scheduler.assertCanAdmit();
      const key = this.#newKey();
      this.#register(key, req, { kind: 'prefill', resolve, reject }, signal);
      this.#admit(key, req.prompt, undefined);
    });
  }

  /**
   * Continue `req` from a transferred prefill: the first token is sampled from `resume.logits` with the request's
   * own seeded sampler, then decoding proceeds as in `submit`. The engine takes ownership of `resume.state`
   * (except when this throws `ServiceFullError`).
   */
  submitResumed(req: GenerationRequest, resume: PrefillResult, signal: AbortSignal): AsyncIterable<ServiceEvent> {
    const key = this.#newKey();
    const events = new EventStream<ServiceEvent>(() => this.#cancel(key));
    const bad = this.#checkResume(resume);
    if (bad) return this.#refuse(events, bad);
    const decoder = this.#prepare(req, signal, events);
    if (!decoder) return events;
    this.#scheduler.assertCanAdmit();
    let first: DecodeOutcome;
    try {
      first = decoder.next(resume.logits, resume.state.tokens.length);
    } catch (e) {
      this.#onError(e, req.id);
      return this.#refuse(events, internalError(e));
    }
    this.#emit(events, first);
    if (first.next === undefined) return events;
    this.#register(key, req, { kind: 'stream', decoder, events }, signal);
    this.#runner.adopt(key, resume.state);
    this.#scheduler.addResumed(key, first.next);
    this.#kick();
    return events;
  }

  /** Prompt tokens the context cache would restore for `prompt` (0 without a cache); reads no entry (routing probes). */
  async cachedPrefix(prompt: readonly number[]): Promise<number> {
    return this.#cache ? this.#cache.probe(this.#ns, prompt) : 0;
  }

  stats(): ServiceStats {
    return {
      running: this.#scheduler.running,
      waiting: this.#scheduler.waiting,
      liveStates: this.#runner.liveStates,
      promptTokensTotal: this.#promptTokens,
      generationTokensTotal: this.#generationTokens,
      requestsFinished: { ...this.#ended },
    };
  }

  /** Stop serving: every request still in flight ends with an `error` event (503); later submits are refused. */
  close(): Promise<void> {
    this.#closed = true;
    const closing = new EngineRequestError(503, 'engine_closed', 'the engine is shutting down');
    for (const live of [...this.#live.values()]) this.#fail(live, closing);
    return Promise.resolve();
  }

  // ── admission ────────────────────────────────────────────────────────────────────────────────────────────

  #newKey(): string {
    return `r${this.#nextKey++}`;
  }

  /** Validates `req` and builds its decoder; on failure (or an already aborted signal) ends `events` and returns undefined. */
  #prepare(req: GenerationRequest, signal: AbortSignal, events: EventStream<ServiceEvent>): RequestDecoder | undefined {
    const bad = this.#check(req);
    if (bad) return void this.#refuse(events, bad);
    if (signal.aborted) {
      this.#count('abort');
      return void events.end();
    }
    try {
      return new RequestDecoder(req, this.#tok, this.maxContext);
    } catch (e) {
      if (!isTandemError(e)) throw e;
      return void this.#refuse(events, new EngineRequestError(400, 'invalid_request', e.message));
    }
  }

  #check(req: GenerationRequest): EngineRequestError | undefined {
    if (this.#closed) return new EngineRequestError(503, 'engine_closed', 'the engine is shutting down');
    const V = this.#model.config.vocabSize;
    const n = req.prompt.length;
    if (n === 0) return new EngineRequestError(400, 'invalid_prompt', 'the prompt is empty: give at least one token');
    if (n > this.maxContext) {
      return new EngineRequestError(400, 'context_length_exceeded', `the prompt has ${n} tokens but the model's context is ${this.maxContext} tokens; shorten it`);
    }
    const badId = req.prompt.find((t) => !Number.isInteger(t) || t < 0 || t >= V);
    if (badId !== undefined) return new EngineRequestError(400, 'invalid_prompt', `token id ${badId} is outside the vocabulary [0, ${V})`);
    if (!Number.isSafeInteger(req.maxTokens) || req.maxTokens < 0) {
      return new EngineRequestError(400, 'invalid_request', `maxTokens must be an integer >= 0, got ${req.maxTokens}`);
    }
    const k = req.topLogprobs;
    if (k !== undefined && (!Number.isSafeInteger(k) || k < 0 || k > V)) {
      return new EngineRequestError(400, 'invalid_request', `topLogprobs must be an integer in [0, ${V}], got ${k}`);
    }
    return undefined;
  }

  #checkResume(resume: PrefillResult): EngineRequestError | undefined {
    const { state, logits } = resume;
    if (state.model !== this.#model.fingerprint) return new EngineRequestError(400, 'invalid_state', 'the transferred state belongs to another model');
    if (logits.length !== this.#model.config.vocabSize) {
      return new EngineRequestError(400, 'invalid_state', `the transferred logits have ${logits.length} entries; the vocabulary has ${this.#model.config.vocabSize}`);
    }
    if (state.tokens.length === 0 || state.tokens.length > this.maxContext) {
      return new EngineRequestError(400, 'invalid_state', `the transferred state holds ${state.tokens.length} tokens; expected 1 to ${this.maxContext}`);
    }
    return undefined;
  }

  #refuse(events: EventStream<ServiceEvent>, e: EngineRequestError): EventStream<ServiceEvent> {
    this.#count('error');
    events.push({ type: 'error', status: e.status, code: e.code, message: e.message });
    events.end();
    return events;
  }

  /** Queue the prompt; with a cache, first restore its deepest cached snapshot and queue only the rest. */
  #admit(key: string, prompt: readonly number[], decoder: RequestDecoder | undefined): void {
    const cache = this.#cache;
    if (!cache) {
      this.#scheduler.add(key, prompt);
      return this.#kick();
    }
    const admit = (found: CacheLookup | null): void => {
      const live = this.#live.get(key);
      if (!live) return; // cancelled while looking up
      const hit = found?.hit ?? null;
      try {
        this.#points.set(key, snapshotPoints(prompt.length, hit?.tokens ?? 0, found?.branchAt));
        if (hit) {
          this.#runner.adopt(key, hit.state);
          if (decoder) decoder.cachedTokens = hit.tokens;
        }
        this.#scheduler.add(key, hit ? prompt.slice(hit.tokens) : prompt);
        this.#kick();
      } catch (e) {
        this.#fail(live, e instanceof ServiceFullError ? new EngineRequestError(429, 'server_busy', e.message) : e);
      }
    };
    cache.lookup(this.#ns, prompt).then(admit, (e: unknown) => {
      this.#onError(e, key);
      admit(null);
    });
  }

  /** Snapshot the state of `key` into the cache (a serialized copy; the live state runs on). */
  #snapshot(key: string, reason: SnapshotReason): void {
    const state = this.#cache ? this.#runner.peek(key) : undefined;
    if (!state || !this.#cache) return;
    try {
      this.#cache.store(this.#ns, state, reason);
    } catch (e) {
      this.#onError(e, key); // a cache failure never fails a request
    }
  }

  #register(key: string, req: GenerationRequest, sink: Sink, signal: AbortSignal): void {
    const onAbort = (): void => this.#cancel(key);
    signal.addEventListener('abort', onAbort, { once: true });
    this.#live.set(key, { key, req, sink, signal, onAbort });
  }

  // ── the loop ─────────────────────────────────────────────────────────────────────────────────────────────

  #kick(): void {
    if (this.#tickQueued || this.#closed) return;
    this.#tickQueued = true;
    setImmediate(() => this.#tick());
  }

  #tick(): void {
    this.#tickQueued = false;
    if (this.#closed) return;
    try {
      step(this.#scheduler, (plan) => this.#runner.execute(plan), (plan, outputs) => this.#process(plan, outputs));
    } catch (e) {
      // A failure outside any one item (a bug in scheduling or committing): fail the requests it touched.
      const ids = e instanceof StepFailedError ? e.plan.items.map((i) => i.id) : this.#scheduler.runningIds();
      for (const id of ids) {
        const live = this.#live.get(id);
        if (live) this.#fail(live, e);
      }
    }
    if (this.#scheduler.hasWork) this.#kick();
  }

  /** The output stage: each item's logits → sampled token and events, or finished / failed. */
  #process(plan: StepPlan, outputs: readonly ItemOutput[]): StepResult[] {
    return plan.items.map((item, i): StepResult => {
      const id = item.id;
      const live = this.#live.get(id);
      const out = outputs[i];
      if (!live || !out) {
        this.#runner.free(id);
        return { kind: 'finished', id };
      }
      try {
        if (!out.ok) throw out.error;
        if (item.kind === 'prefill') {
          this.#promptTokens += item.tokens.length;
        }
        return out.logits ? this.#deliver(live, out.logits) : { kind: 'progress', id };
      } catch (e) {
        this.#fail(live, e);
        return { kind: 'finished', id };
      }
    });
  }

  #deliver(live: Live, logits: Float32Array): StepResult {
    const { key, sink } = live;
    if (sink.kind === 'prefill') {
      const state = this.#runner.take(key);
      if (!state) throw new Error(`request ${key} finished its prefill without a state`);
      this.#end(live, 'prefilled');
      sink.resolve({ state, logits });
      return { kind: 'finished', id: key };
    }
    const outcome = sink.decoder.next(logits, this.#runner.position(key) ?? 0);
    this.#emit(sink.events, outcome);
    if (outcome.next !== undefined) return { kind: 'next', id: key, token: outcome.next };
    this.#snapshot(key, 'turn'); // end of turn: everything processed, for the next turn's prompt
    this.#end(live, undefined);
    return { kind: 'finished', id: key };
  }

  /** Push a decode outcome's events; on `finish`, count it and end the stream. */
  #emit(events: EventStream<ServiceEvent>, outcome: DecodeOutcome): void {
    for (const ev of outcome.events) {
      if (ev.type === 'token') this.#generationTokens++;
      if (ev.type === 'finish') this.#count(ev.reason);
      events.push(ev);
    }
    if (outcome.next === undefined) events.end();
  }

  // ── endings ──────────────────────────────────────────────────────────────────────────────────────────────

  /** Forget a request everywhere: scheduler, state, abort listener. `kind` is counted when given. */
  #end(live: Live, kind: EndKind | undefined): void {
    this.#scheduler.cancel(live.key);
    this.#runner.free(live.key);
    this.#live.delete(live.key);
    this.#points.delete(live.key);
    live.signal.removeEventListener('abort', live.onAbort);
    if (kind) this.#count(kind);
  }

  #cancel(key: string): void {
    const live = this.#live.get(key);
    if (!live) return;
    this.#end(live, 'abort');
    if (live.sink.kind === 'stream') live.sink.events.end();
    else live.sink.reject(live.signal.aborted ? live.signal.reason : new EngineRequestError(499, 'cancelled', 'the request was cancelled'));
  }

  #fail(live: Live, e: unknown): void {
    const err = e instanceof EngineRequestError ? e : internalError(e);
    if (err.status >= 500 && !(e instanceof EngineRequestError)) this.#onError(e, live.req.id);
    this.#end(live, 'error');
    if (live.sink.kind === 'prefill') return live.sink.reject(err);
    live.sink.events.push({ type: 'error', status: err.status, code: err.code, message: err.message });
    live.sink.events.end();
  }

  #count(kind: EndKind): void {
    this.#ended[kind] = (this.#ended[kind] ?? 0) + 1;
  }
}

function internalError(e: unknown): EngineRequestError {
  return new EngineRequestError(500, 'internal_error', `internal error: ${e instanceof Error ? e.message : String(e)}`);
}
