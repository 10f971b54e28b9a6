/**
 * One request through the disaggregated frontend.
 *
 * Routing (conditional disaggregation, serving spec §1.3, cache-aware): with worker caches on, every open decode
 * worker is probed (`probe` → `probe-reply {cachedTokens}`, an index lookup on the worker) and the request goes to
 * the one with the lowest cost
 *
 *     cost = (prompt − cachedTokens) + loadWeight × (dispatches in flight on it)   [+ engine queue / 1000, tie-break]
 *
 * (loadWeight, default 256 tokens per in-flight request: a worker holding the prefix wins unless it is busier by
 * more than ⌈cached advantage / 256⌉ requests; ties go to the first registered). Uncached prompt tokens (prompt −
 * the chosen worker's cachedTokens; the whole prompt with caches off) < threshold → that decode worker runs it
 * all; otherwise the least-loaded prefill worker prefills it and returns opaque transfer metadata, then the decode
 * worker pulls the state from that prefill worker and decodes. Tokens stream back as the decode worker emits them.
 *
 * A prefill worker whose queue is full (`overloaded`) also sends the request down the decode-only path.
 *
 * Failures (spec §1.7): a worker lost before it produced anything is replaced once by another worker of the same
 * role (a lost prefill with no other prefill worker falls back to a decode-only run; a decode retry always runs
 * the whole request locally, since the transferred state may already be consumed). A decode worker that cannot
 * pull the state (prefill worker gone mid-transfer) gets the request again, to run locally. A worker lost after tokens
 * were sent ends the request with a 503 `worker_lost` error event. No message for `idleMs` ends it with a 504.
 * Aborting the signal cancels whichever worker holds the request at once (its state or lease is freed there).
 */
import type { GenerationRequest, ServiceEvent } from '../../engine/service.js';
import { errorEvent, type WorkerMessage } from './messages.js';
import type { Delivery, WorkerHandle, WorkerPool } from './pool.js';

export interface FlowContext {
  readonly pool: WorkerPool;
  readonly threshold: number;
  readonly idleMs: number;
  /** Probe decode workers' caches and route on cost (false: least-loaded, whole prompt counts as uncached). */
  readonly cacheAware?: boolean;
  /** Tokens of cost per dispatch in flight on a decode worker (default `DEFAULT_LOAD_WEIGHT`). */
  readonly loadWeight?: number;
  /** Test hook: decode workers for which this returns false are never chosen for `req`. */
  readonly routeFilter?: (req: GenerationRequest, workerId: string) => boolean;
  nextRid(): string;
}

/** Cost, in uncached prompt tokens, of one dispatch in flight on a decode worker (routing rule above). */
export const DEFAULT_LOAD_WEIGHT = 256;

/** Decode workers `req` may not use: already tried, or excluded by the test hook. */
function excluded(ctx: FlowContext, req: GenerationRequest, tried: ReadonlySet<string>): Set<string> {
  const out = new Set(tried);
  if (ctx.routeFilter) for (const h of ctx.pool.candidates('decode', out)) if (!ctx.routeFilter(req, h.info.id)) out.add(h.info.id);
  return out;
}

/** Cache-aware choice of a decode worker: probe each, minimise (prompt − cached) + loadWeight × inflight. */
export async function routeDecode(ctx: FlowContext, req: GenerationRequest): Promise<{ h: WorkerHandle; cachedTokens: number } | undefined> {
  const hs = ctx.pool.candidates('decode', excluded(ctx, req, new Set()));
  const cached = await Promise.all(hs.map((h) => ctx.pool.probe(h, req.prompt)));
  const w = ctx.loadWeight ?? DEFAULT_LOAD_WEIGHT;
  let best: { h: WorkerHandle; cachedTokens: number } | undefined;
  let bestCost = Infinity;
  hs.forEach((h, i) => {
    if (!h.conn.isOpen) return;
    const c = Math.min(cached[i]!, req.prompt.length);
    const cost = req.prompt.length - c + w * h.inflight.size + ctx.pool.waiting(h) / 1000;
    if (cost < bestCost) [best, bestCost] = [{ h, cachedTokens: c }, cost];
  });
  return best;
}

type Item = { readonly kind: 'delivery'; readonly rid: string; readonly d: Delivery } | { readonly kind: 'abort' } | { readonly kind: 'timeout' };

interface Dispatch {
  readonly h: WorkerHandle;
  readonly rid: string;
}

/** The request's mailbox and the dispatches it may have to cancel. */
class Flow {
  readonly #items: Item[] = [];
  #wake: (() => void) | undefined;
  /** The dispatch whose messages we are waiting for. */
  current: Dispatch | undefined;
  /** The prefill whose lease the decode worker should pull; cancelled unless the request finishes. */
  prefilled: Dispatch | undefined;

  constructor(private readonly ctx: FlowContext) {}

  push(i: Item): void {
    this.#items.push(i);
    this.#wake?.();
  }

  send(h: WorkerHandle, make: (rid: string) => WorkerMessage): Dispatch {
    const rid = this.ctx.nextRid();
    this.current = { h, rid };
    this.ctx.pool.dispatch(h, rid, make(rid), (d) => this.push({ kind: 'delivery', rid, d }));
    return this.current;
  }

  /** Next item for the current dispatch (stale deliveries from earlier dispatches are dropped). */
  async next(): Promise<Exclude<Item, { kind: 'delivery' }> | Delivery> {
    const deadline = Date.now() + this.ctx.idleMs;
    for (;;) {
      const i = this.#items.shift();
      if (i?.kind === 'abort' || i?.kind === 'timeout') return i;
      if (i?.kind === 'delivery') {
        if (i.rid === this.current?.rid) return i.d;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'timeout' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** The current dispatch ended on its own. */
  settle(): void {
    if (this.current) this.ctx.pool.settle(this.current.h, this.current.rid);
    this.current = undefined;
  }

  /** Cancel everything still held for this request on any worker. */
  cancelAll(): void {
    for (const d of [this.current, this.prefilled]) if (d) this.ctx.pool.cancel(d.h, d.rid);
    this.current = undefined;
    this.prefilled = undefined;
  }
}

type PrefillOutcome = { readonly kind: 'remote'; readonly transfer: unknown } | { readonly kind: 'local' } | { readonly kind: 'end'; readonly event?: ServiceEvent };

const timeoutEvent = (ms: number, role: string): ServiceEvent => errorEvent(504, 'timeout', `the ${role} worker sent nothing for ${ms} ms`);

async function prefillPhase(ctx: FlowContext, req: GenerationRequest, flow: Flow): Promise<PrefillOutcome> {
  const tried = new Set<string>();
  for (let attempt = 0; attempt < 2; attempt++) {
    const h = ctx.pool.pick('prefill', tried);
    if (!h) return { kind: 'local' };
    tried.add(h.info.id);
    flow.send(h, (rid) => ({ t: 'prefill', rid, req }));
    for (;;) {
      const d = await flow.next();
      if (d.kind === 'abort') return { kind: 'end' };
      if (d.kind === 'timeout') return { kind: 'end', event: timeoutEvent(ctx.idleMs, 'prefill') };
      if (d.kind === 'lost') break;
      if (d.msg.t === 'prefilled') {
        flow.prefilled = flow.current;
        flow.settle();
        return { kind: 'remote', transfer: d.msg.transfer };
      }
      if (d.msg.t === 'event' && d.msg.event.type === 'error') {
        flow.settle();
        // A full prefill queue is a reason to prefill locally (Dynamo's `prefill_load` bypass), not to fail.
        return d.msg.event.code === 'overloaded' ? { kind: 'local' } : { kind: 'end', event: d.msg.event };
      }
    }
    flow.current = undefined;
  }
  return { kind: 'local' };
}

/**
 * One decode dispatch: yields its events. Before any token it may instead return 'lost' (the worker went away) or
 * 'transfer-failed' (the worker is fine but could not pull the state: the prefill worker died or dropped the
 * connection); a corrupt state (`bad_state`) is not retried, it is reported.
 */
async function* decodeAttempt(ctx: FlowContext, req: GenerationRequest, transfer: unknown, h: WorkerHandle, flow: Flow): AsyncGenerator<ServiceEvent, 'done' | 'lost' | 'transfer-failed'> {
  flow.send(h, (rid) => (transfer === undefined ? { t: 'decode', rid, req } : { t: 'decode', rid, req, transfer }));
  let sent = 0;
  for (;;) {
    const d = await flow.next();
    if (d.kind === 'abort') return 'done';
    if (d.kind === 'timeout') {
      yield timeoutEvent(ctx.idleMs, 'decode');
      return 'done';
    }
    if (d.kind === 'lost') {
      flow.current = undefined;
      if (sent === 0) return 'lost';
      yield errorEvent(503, 'worker_lost', `${d.reason} after ${sent} tokens were sent; retry the request`);
      return 'done';
    }
    if (d.msg.t !== 'event') continue;
    const ev = d.msg.event;
    if (ev.type === 'token') sent++;
    if (ev.type === 'error' && ev.code === 'transfer_failed' && sent === 0) {
      flow.settle();
      return 'transfer-failed';
    }
    if (ev.type === 'finish') {
      flow.settle();
      flow.prefilled = undefined; // the decode worker pulled the state: nothing left to free
    } else if (ev.type === 'error') flow.settle();
    yield ev;
    if (ev.type !== 'token') return 'done';
  }
}

async function* decodePhase(ctx: FlowContext, req: GenerationRequest, transfer: unknown, flow: Flow, preferred?: WorkerHandle): AsyncGenerator<ServiceEvent> {
  const tried = new Set<string>();
  let lostWhy = '';
  for (let attempt = 0; attempt < 2; attempt++) {
    const h = attempt === 0 && preferred?.conn.isOpen ? preferred : ctx.pool.pick('decode', excluded(ctx, req, tried));
    if (!h) break;
    tried.add(h.info.id);
    // A retry runs the whole request: the transferred state may be consumed or unreachable.
    const r = yield* decodeAttempt(ctx, req, attempt === 0 ? transfer : undefined, h, flow);
    if (r === 'done') return;
    if (r === 'transfer-failed') tried.delete(h.info.id);
    lostWhy = r === 'lost' ? `decode worker ${h.info.id} was lost before it sent a token` : `the state transfer to ${h.info.id} failed`;
  }
  yield errorEvent(503, lostWhy ? 'worker_lost' : 'no_worker', lostWhy ? `${lostWhy}, and no other decode worker could take it` : 'no decode worker is available');
}

/** Route and run one request; see the file comment for the rules. */
export async function* runRequest(ctx: FlowContext, req: GenerationRequest, signal: AbortSignal): AsyncGenerator<ServiceEvent> {
  const flow = new Flow(ctx);
  const onAbort = (): void => {
    flow.cancelAll();
    flow.push({ kind: 'abort' });
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal.aborted) return;
    let transfer: unknown;
    const routed = ctx.cacheAware ? await routeDecode(ctx, req) : undefined;
    if (signal.aborted) return;
    if (req.prompt.length - (routed?.cachedTokens ?? 0) >= ctx.threshold) {
      const p = await prefillPhase(ctx, req, flow);
      if (p.kind === 'end') {
        if (p.event) yield p.event;
        return;
      }
      if (p.kind === 'remote') transfer = p.transfer;
    }
    if (signal.aborted) return;
    // After a remote prefill the state arrives by transfer and loads have moved on: pick the least-loaded worker then.
    yield* decodePhase(ctx, req, transfer, flow, transfer === undefined ? routed?.h : undefined);
  } finally {
    signal.removeEventListener('abort', onAbort);
    flow.cancelAll();
  }
}
