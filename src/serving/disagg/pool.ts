/**
 * The frontend's view of its workers: one job connection per registered worker, the dispatches in flight on
 * each, least-loaded picking, and loss detection. A worker is lost when its job connection closes or the registry
 * drops it (disconnect or missed heartbeats); every dispatch in flight on it is then told `lost` at once.
 */
import type { ServiceStats } from '../../engine/service.js';
import { asFrontendMessage, type FrontendMessage, type Role, type WorkerInfo, type WorkerMessage, type WorkerSnapshot } from './messages.js';
import type { RegisteredWorker, Registry } from './registry.js';
import { connect, type Connection } from './transport.js';

export type Delivery = { readonly kind: 'msg'; readonly msg: FrontendMessage } | { readonly kind: 'lost'; readonly reason: string };

export interface WorkerHandle {
  readonly info: WorkerInfo;
  readonly conn: Connection;
  readonly inflight: Map<string, (d: Delivery) => void>;
  readonly reg: RegisteredWorker;
  polled: { snapshot: WorkerSnapshot; at: number } | undefined;
}

export interface WorkerView {
  readonly id: string;
  readonly role: Role;
  readonly pid: number;
  readonly address: string;
  /** Dispatches from this frontend still in flight on the worker. */
  readonly inflight: number;
  readonly snapshot: WorkerSnapshot | undefined;
}

/** The freshest report: a stats reply or the last heartbeat, whichever came later. */
function latest(h: WorkerHandle): WorkerSnapshot | undefined {
  if (h.polled && h.polled.at >= h.reg.lastSeen) return h.polled.snapshot;
  return h.reg.snapshot ?? h.polled?.snapshot;
}

export class WorkerPool {
  readonly #handles = new Map<string, WorkerHandle>();
  readonly #queries = new Map<number, (s: WorkerSnapshot) => void>();
  readonly #probes = new Map<string, (cachedTokens: number) => void>();
  readonly #changed = new Set<() => void>();
  #qid = 0;
  #closed = false;
  readonly #unwatch: () => void;

  constructor(private readonly registry: Registry, private readonly connectTimeoutMs = 5000) {
    this.#unwatch = registry.watch((e) => (e.type === 'up' ? void this.#attach(e.worker) : this.#detach(e.worker.info.id, e.reason)));
    for (const w of registry.list()) void this.#attach(w);
  }

  count(role: Role): number {
    return [...this.#handles.values()].filter((h) => h.info.role === role).length;
  }

  /** The first attached worker's identity (model name, context); undefined before any. */
  any(): WorkerInfo | undefined {
    return this.#handles.values().next().value?.info;
  }

  /** Resolve once at least `prefill` + `decode` workers are attached; reject after `timeoutMs` or when `check` throws. */
  waitFor(prefill: number, decode: number, timeoutMs: number, check: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (e?: unknown): void => {
        clearInterval(poll);
        clearTimeout(timer);
        this.#changed.delete(test);
        if (e) reject(e);
        else resolve();
      };
      const test = (): void => {
        try {
          check();
        } catch (e) {
          return done(e);
        }
        if (this.count('prefill') >= prefill && this.count('decode') >= decode) done();
      };
      const poll = setInterval(test, 100);
      const timer = setTimeout(() => done(new Error(
        `only ${this.count('prefill')}/${prefill} prefill and ${this.count('decode')}/${decode} decode workers registered within ${timeoutMs} ms`)), timeoutMs);
      this.#changed.add(test);
      test();
    });
  }

  /** Least-loaded worker of `role` not in `exclude`: fewest dispatches in flight, then fewest queued in its engine. */
  pick(role: Role, exclude: ReadonlySet<string>): WorkerHandle | undefined {
    let best: WorkerHandle | undefined;
    let bestLoad = Infinity;
    for (const h of this.#handles.values()) {
      if (h.info.role !== role || exclude.has(h.info.id) || !h.conn.isOpen) continue;
      const load = h.inflight.size + (latest(h)?.engine.waiting ?? 0) / 1000;
      if (load < bestLoad) [best, bestLoad] = [h, load];
    }
    return best;
  }

  /** Open decode/prefill workers of `role` not in `exclude`. */
  candidates(role: Role, exclude: ReadonlySet<string>): WorkerHandle[] {
    return [...this.#handles.values()].filter((h) => h.info.role === role && !exclude.has(h.info.id) && h.conn.isOpen);
  }

  /** Queued requests in the worker's engine, from its latest report. */
  waiting(h: WorkerHandle): number {
    return latest(h)?.engine.waiting ?? 0;
  }

  /** Ask a worker how many leading tokens its context cache holds; 0 if it does not answer within `timeoutMs`. */
  probe(h: WorkerHandle, tokens: readonly number[], timeoutMs = 1000): Promise<number> {
    if (!h.conn.isOpen) return Promise.resolve(0);
    const rid = `p${++this.#qid}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#probes.delete(rid);
        resolve(0);
      }, timeoutMs);
      this.#probes.set(rid, (n) => {
        clearTimeout(timer);
        resolve(n);
      });
      h.conn.send({ t: 'probe', rid, tokens });
    });
  }

  /** Send a job; `listener` receives its messages, or `lost` if the worker goes away first. */
  dispatch(h: WorkerHandle, rid: string, msg: WorkerMessage, listener: (d: Delivery) => void): void {
    h.inflight.set(rid, listener);
    if (h.conn.isOpen) h.conn.send(msg);
    else queueMicrotask(() => this.#deliverLost(h, rid, 'connection closed'));
  }

  /** The dispatch ended normally (its last message arrived): stop routing to it. */
  settle(h: WorkerHandle, rid: string): void {
    h.inflight.delete(rid);
  }

  /** Tell the worker to drop the job (and any lease it made); harmless if it already ended. */
  cancel(h: WorkerHandle, rid: string): void {
    h.inflight.delete(rid);
    h.conn.send({ t: 'cancel', rid });
  }

  views(): WorkerView[] {
    return [...this.#handles.values()].map((h) => ({
      id: h.info.id, role: h.info.role, pid: h.info.pid, address: h.info.address, inflight: h.inflight.size, snapshot: latest(h),
    }));
  }

  /** Ask every worker for a fresh report (workers that do not answer within `timeoutMs` keep their last one). */
  async refresh(timeoutMs = 2000): Promise<void> {
    await Promise.all([...this.#handles.values()].map((h) => new Promise<void>((resolve) => {
      const qid = ++this.#qid;
      const timer = setTimeout(() => {
        this.#queries.delete(qid);
        resolve();
      }, timeoutMs);
      this.#queries.set(qid, (snapshot) => {
        clearTimeout(timer);
        h.polled = { snapshot, at: Date.now() };
        resolve();
      });
      h.conn.send({ t: 'stats', qid });
    })));
  }

  /** Sum of the workers' engine stats; leased transfers count as live states. */
  aggregate(): Pick<ServiceStats, 'running' | 'waiting' | 'liveStates'> & { leases: number } {
    let running = 0, waiting = 0, liveStates = 0, leases = 0;
    for (const h of this.#handles.values()) {
      const s = latest(h);
      if (!s) continue;
      running += s.engine.running;
      waiting += s.engine.waiting;
      liveStates += s.engine.liveStates + s.leases;
      leases += s.leases;
    }
    return { running, waiting, liveStates, leases };
  }

  close(): void {
    this.#closed = true;
    this.#unwatch();
    for (const h of this.#handles.values()) h.conn.close('frontend closing');
  }

  async #attach(reg: RegisteredWorker): Promise<void> {
    let conn: Connection;
    try {
      conn = await connect(reg.info.address, this.connectTimeoutMs);
    } catch {
      return; // unreachable: it is not routable; the registry drops it when its heartbeats stop
    }
    if (this.#closed || !this.registry.list().includes(reg)) return conn.close('worker gone before attach');
    const h: WorkerHandle = { info: reg.info, conn, inflight: new Map(), reg, polled: undefined };
    conn.handlers = {
      onMessage: (raw) => this.#route(h, raw.t, asFrontendMessage(raw)),
      onClose: (reason) => this.#detach(h.info.id, `job connection to ${h.info.id} lost: ${reason}`),
    };
    this.#handles.set(reg.info.id, h);
    for (const f of this.#changed) f();
  }

  #route(h: WorkerHandle, t: string, m: FrontendMessage | undefined): void {
    if (!m) return h.conn.close(`malformed "${t}" message`);
    if (m.t === 'stats-reply') {
      const q = this.#queries.get(m.qid);
      this.#queries.delete(m.qid);
      return q?.(m.snapshot);
    }
    if (m.t === 'probe-reply') {
      const p = this.#probes.get(m.rid);
      this.#probes.delete(m.rid);
      return p?.(m.cachedTokens);
    }
    h.inflight.get(m.rid)?.({ kind: 'msg', msg: m });
  }

  #detach(id: string, reason: string): void {
    const h = this.#handles.get(id);
    if (!h) return;
    this.#handles.delete(id);
    h.conn.close(reason);
    for (const rid of [...h.inflight.keys()]) this.#deliverLost(h, rid, reason);
    for (const f of this.#changed) f();
  }

  #deliverLost(h: WorkerHandle, rid: string, reason: string): void {
    const l = h.inflight.get(rid);
    h.inflight.delete(rid);
    l?.({ kind: 'lost', reason: `worker ${h.info.id} (${h.info.role}) is gone: ${reason}` });
  }
}
