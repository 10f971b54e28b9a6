/**
 * Running the choices of one HTTP request on the service: a request with `n` choices (and, for completions, several
 * prompts) is that many independent service requests sharing one AbortController, which the client's disconnect
 * (or a failed sibling) aborts (SERVE.9).
 *
 * Each choice is opened by waiting for its first event, so that admission failures (`ServiceFullError` → 429) and
 * an immediate `error` event become a proper HTTP status before any byte of a stream is sent.
 */
import { randomBytes } from 'node:crypto';
import { isTandemError } from '../errors.js';
import { ServiceFullError, type GenerationRequest, type InferenceService, type ServiceEvent } from '../engine/service.js';
import { ApiError } from './api-error.js';
import type { ChoiceMetrics, ServerMetrics } from './metrics.js';

export function requestId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

/** An AbortController that follows the client's signal; `dispose` detaches it once the response is done. */
export function linkedAbort(client: AbortSignal): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(client.reason);
  if (client.aborted) controller.abort(client.reason);
  else client.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => client.removeEventListener('abort', onAbort) };
}

/** Exceptions from `submit` or the first `next()` → the HTTP error to answer with. */
export function submitError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ServiceFullError) return new ApiError(429, 'server_at_capacity', e.message, null, e.retryAfterSeconds);
  if (isTandemError(e) && (e.code === 'BAD_INPUT' || e.code === 'BAD_ARGUMENT')) return new ApiError(400, 'invalid_value', e.message);
  if (!(e instanceof Error && e.name === 'AbortError')) console.error('tandem serve: service failure:', e);
  return new ApiError(500, 'internal_error', 'internal server error; see the server log');
}

/** Records TTFT, inter-token gaps, e2e latency, tokens and the finish (or abort) of one choice. */
async function* instrument(events: AsyncIterable<ServiceEvent>, m: ChoiceMetrics, req: GenerationRequest, arrival: number): AsyncGenerator<ServiceEvent> {
  let last: number | undefined;
  let generated = 0;
  let ended = false;
  try {
    for await (const ev of events) {
      const now = performance.now();
      if (ev.type === 'token') {
        if (last === undefined) m.firstToken((now - arrival) / 1000);
        else m.interToken((now - last) / 1000);
        last = now;
        generated++;
      } else {
        ended = true;
        if (ev.type === 'finish') m.finished(ev.reason, ev.usage, (now - arrival) / 1000);
        else m.failed(ev.code);
      }
      yield ev;
    }
  } finally {
    if (!ended) m.aborted(req.prompt.length, generated);
  }
}

/** `first`, then the rest of `rest`; closing early closes `rest` (the service frees the request's state). */
async function* prepend<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncGenerator<T> {
  let done = first.done === true;
  try {
    if (first.done) return;
    yield first.value;
    for (;;) {
      const r = await rest.next();
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) await rest.return?.();
  }
}

async function openOne(service: InferenceService, req: GenerationRequest, signal: AbortSignal): Promise<AsyncIterable<ServiceEvent>> {
  let it: AsyncIterator<ServiceEvent>;
  let first: IteratorResult<ServiceEvent>;
  try {
    it = service.submit(req, signal)[Symbol.asyncIterator]();
    first = await it.next();
  } catch (e) {
    throw submitError(e);
  }
  if (!first.done && first.value.type === 'error') {
    const ev = first.value;
    throw new ApiError(ev.status, ev.code, ev.message);
  }
  return prepend(first, it);
}

export interface ChoiceRun {
  readonly service: InferenceService;
  readonly metrics: ServerMetrics;
  /** `performance.now()` when the HTTP request arrived. */
  readonly arrival: number;
  readonly controller: AbortController;
}

/** Opens every choice; when one fails the others are aborted and the first failure is thrown. */
export async function openChoices(run: ChoiceRun, reqs: readonly GenerationRequest[]): Promise<AsyncIterable<ServiceEvent>[]> {
  const opened = await Promise.allSettled(reqs.map((r) => openOne(run.service, r, run.controller.signal)));
  const failed = opened.find((o) => o.status === 'rejected');
  if (failed !== undefined) {
    run.controller.abort();
    for (const o of opened) if (o.status === 'fulfilled') void drain(o.value);
    const e = submitError(failed.reason);
    if (e.status === 429) run.metrics.rejected();
    throw e;
  }
  return opened.map((o, i) => instrument((o as PromiseFulfilledResult<AsyncIterable<ServiceEvent>>).value, run.metrics.choice(), reqs[i]!, run.arrival));
}

async function drain(events: AsyncIterable<ServiceEvent>): Promise<void> {
  try {
    for await (const _ of events);
  } catch {
    /* already aborted */
  }
}

/** Interleaves several async iterables as their items arrive, tagging each with its source index. */
export async function* merge<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<[number, T]> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<[number, IteratorResult<T>]>>();
  const pull = (i: number): void => {
    pending.set(i, its[i]!.next().then((r): [number, IteratorResult<T>] => [i, r]));
  };
  its.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const [i, r] = await Promise.race(pending.values());
      if (r.done) pending.delete(i);
      else {
        pull(i);
        yield [i, r.value];
      }
    }
  } finally {
    for (const [i] of pending) void its[i]!.return?.().catch(() => undefined);
  }
}
