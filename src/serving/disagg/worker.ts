/**
 * A disaggregation worker: one engine behind a framed listener, registered with a frontend.
 *
 *   prefill role  `prefill` job → engine.prefillOnly → envelope (transfer.ts) under a lease → reply `prefilled` with
 *                 the opaque metadata {address, transferId, bytes}; serves `pull` connections from decode workers.
 *   decode role   `decode` job with metadata → pull the envelope from the prefill worker, check it, restore it,
 *                 engine.submitResumed; without metadata (short prompt) → engine.submit. Events stream back as
 *                 `event` messages; exactly one finish or error ends each job.
 *
 * `cancel {rid}` aborts the job and frees its state or lease. A job connection that closes cancels all its jobs.
 * A failed job (corrupt transfer, bad input) ends with an error event; the worker keeps serving.
 */
import type { Server } from 'node:net';
import { isTandemError } from '../../errors.js';
import type { Model } from '../../model/nemotron-h.js';
import type { SequenceState } from '../../model/state.js';
import { EngineRequestError } from '../../engine/engine.js';
import { ServiceFullError, type GenerationRequest, type InferenceService, type ServiceEvent } from '../../engine/service.js';
import { asTransferMeta, asWorkerMessage, errorEvent, type Role, type WorkerInfo, type WorkerSnapshot } from './messages.js';
import { registerWithFrontend, type RegistrySession } from './registry.js';
import { decodeTransfer, encodeTransfer, LeaseStore, pullTransfer, servePull } from './transfer.js';
import { listen, type Connection } from './transport.js';

/** The engine surface a worker needs: the service plus the two disaggregation entry points of LocalEngine. */
export interface DisaggEngine extends InferenceService {
  prefillOnly(req: GenerationRequest, signal: AbortSignal): Promise<{ state: SequenceState; logits: Float32Array }>;
  submitResumed(req: GenerationRequest, resume: { state: SequenceState; logits: Float32Array }, signal: AbortSignal): AsyncIterable<ServiceEvent>;
  /** Prompt tokens the engine's context cache would restore (routing probes); absent = no cache. */
  cachedPrefix?(prompt: readonly number[]): Promise<number>;
}

export interface WorkerOptions {
  readonly id: string;
  readonly role: Role;
  /** Frontend registry address. */
  readonly connect: string;
  /** Address to accept job and pull connections on (default 127.0.0.1:0, any free port). */
  readonly listen?: string;
  /** How long a prefilled state waits to be pulled (default 30 s). */
  readonly leaseMs?: number;
  readonly heartbeatMs?: number;
  /** Stall limit of a state pull (default 30 s). */
  readonly pullIdleMs?: number;
  /** Enable the fault-injection test hook (transfer.ts `injectFault`). */
  readonly faults?: boolean;
}

/** Map a failure to the error event the frontend forwards to the client. */
export function failureEvent(e: unknown): ServiceEvent {
  if (e instanceof EngineRequestError) return errorEvent(e.status, e.code, e.message);
  if (e instanceof ServiceFullError) return errorEvent(503, 'overloaded', `worker at capacity: ${e.message}`);
  if (isTandemError(e)) {
    if (e.code === 'BAD_STATE') return errorEvent(502, 'bad_state', e.message);
    if (e.code === 'BAD_INPUT' || e.code === 'BAD_ARGUMENT') return errorEvent(400, 'invalid_request', e.message);
    return errorEvent(500, 'internal_error', e.message);
  }
  const msg = e instanceof Error ? e.message : String(e);
  return /transfer/.test(msg) ? errorEvent(502, 'transfer_failed', msg) : errorEvent(500, 'internal_error', msg);
}

export class DisaggWorker {
  readonly #jobs = new Map<string, AbortController>();
  readonly #leases: LeaseStore;
  readonly #served = { prefill: 0, decodeRemote: 0, decodeLocal: 0 };
  readonly #conns = new Set<Connection>();
  #connSeq = 0;
  #session: RegistrySession | undefined;
  #beat: NodeJS.Timeout | undefined;
  #server: Server | undefined;
  #address = '';

  private constructor(private readonly engine: DisaggEngine, private readonly model: Model, private readonly opts: WorkerOptions) {
    this.#leases = new LeaseStore(opts.leaseMs ?? 30_000);
  }

  /** Listen, register with the frontend, start heartbeating. */
  static async start(engine: DisaggEngine, model: Model, opts: WorkerOptions): Promise<DisaggWorker> {
    const w = new DisaggWorker(engine, model, opts);
    const { server, address } = await listen(opts.listen ?? '127.0.0.1:0', (c) => w.#accept(c));
    w.#server = server;
    w.#address = address;
    const info: WorkerInfo = {
      id: opts.id, role: opts.role, address, fingerprint: model.fingerprint, modelName: engine.modelName, maxContext: engine.maxContext, pid: process.pid,
    };
    try {
      w.#session = await registerWithFrontend(opts.connect, info);
    } catch (e) {
      server.close();
      throw e;
    }
    w.#session.heartbeat(w.snapshot());
    w.#beat = setInterval(() => w.#session?.heartbeat(w.snapshot()), opts.heartbeatMs ?? 1000);
    return w;
  }

  get address(): string {
    return this.#address;
  }

  /** Resolves with the reason once the frontend is gone; the process should then exit. */
  get lost(): Promise<string> {
    return this.#session?.lost ?? Promise.resolve('not registered');
  }

  snapshot(): WorkerSnapshot {
    return { engine: this.engine.stats(), leases: this.#leases.size, leasesEnded: { ...this.#leases.ended }, served: { ...this.#served } };
  }

  async close(): Promise<void> {
    clearInterval(this.#beat);
    this.#session?.close();
    for (const c of this.#conns) c.close('worker closing');
    for (const ac of this.#jobs.values()) ac.abort();
    this.#leases.release(() => true);
    this.#server?.close();
    await this.engine.close();
  }

  #accept(conn: Connection): void {
    const prefix = `${++this.#connSeq}:`;
    this.#conns.add(conn);
    conn.handlers = {
      onMessage: (raw) => {
        const m = asWorkerMessage(raw);
        if (!m) return conn.close(`malformed "${raw.t}" message`);
        switch (m.t) {
          case 'prefill':
            return void this.#prefill(conn, prefix + m.rid, m.rid, m.req);
          case 'decode':
            return void this.#decode(conn, prefix + m.rid, m.rid, m.req, m.transfer);
          case 'cancel':
            return this.#cancel(prefix + m.rid);
          case 'stats':
            return conn.send({ t: 'stats-reply', qid: m.qid, snapshot: this.snapshot() });
          case 'probe':
            return void this.#probe(conn, m.rid, m.tokens);
          case 'pull':
            return void servePull(conn, m.transferId, this.#leases, this.opts.faults ?? false);
        }
      },
      onClose: () => {
        this.#conns.delete(conn);
        for (const [key, ac] of this.#jobs) if (key.startsWith(prefix)) ac.abort();
        this.#leases.release((owner) => owner.startsWith(prefix));
      },
    };
  }

  async #probe(conn: Connection, rid: string, tokens: readonly number[]): Promise<void> {
    let cachedTokens = 0;
    try {
      const ok = tokens.every((t) => Number.isSafeInteger(t));
      cachedTokens = ok && this.engine.cachedPrefix ? await this.engine.cachedPrefix(tokens) : 0;
    } catch {
      cachedTokens = 0; // a probe never fails anything: it only steers routing
    }
    if (conn.isOpen) conn.send({ t: 'probe-reply', rid, cachedTokens });
  }

  #cancel(key: string): void {
    this.#jobs.get(key)?.abort();
    this.#leases.release((owner) => owner === key);
  }

  /** The engine sees a per-job id, so equal client ids (or a retry landing here) never collide. */
  #begin(key: string, req: GenerationRequest): { ac: AbortController; req: GenerationRequest } {
    const ac = new AbortController();
    this.#jobs.set(key, ac);
    return { ac, req: { ...req, id: `${req.id}@${this.opts.id}/${key}` } };
  }

  async #prefill(conn: Connection, key: string, rid: string, clientReq: GenerationRequest): Promise<void> {
    const { ac, req } = this.#begin(key, clientReq);
    try {
      const done = await this.engine.prefillOnly(req, ac.signal);
      if (ac.signal.aborted || !conn.isOpen) return;
      const blob = encodeTransfer(this.model.config, done);
      const transferId = this.#leases.put(key, clientReq.id, blob);
      this.#served.prefill++;
      conn.send({ t: 'prefilled', rid, transfer: { address: this.#address, transferId, bytes: blob.length } });
    } catch (e) {
      if (!ac.signal.aborted) conn.send({ t: 'event', rid, event: failureEvent(e) });
    } finally {
      this.#jobs.delete(key);
    }
  }

  async #decode(conn: Connection, key: string, rid: string, clientReq: GenerationRequest, transfer: unknown): Promise<void> {
    const { ac, req } = this.#begin(key, clientReq);
    try {
      const events = transfer === undefined ? this.#local(req, ac.signal) : await this.#resume(req, transfer, ac.signal);
      let ended = false;
      for await (const event of events) {
        if (ac.signal.aborted) break;
        conn.send({ t: 'event', rid, event });
        ended = event.type !== 'token';
      }
      if (!ended && !ac.signal.aborted) conn.send({ t: 'event', rid, event: errorEvent(500, 'internal_error', 'the engine stream ended without a finish') });
    } catch (e) {
      if (!ac.signal.aborted) conn.send({ t: 'event', rid, event: failureEvent(e) });
    } finally {
      this.#jobs.delete(key);
    }
  }

  #local(req: GenerationRequest, signal: AbortSignal): AsyncIterable<ServiceEvent> {
    this.#served.decodeLocal++;
    return this.engine.submit(req, signal);
  }

  async #resume(req: GenerationRequest, transfer: unknown, signal: AbortSignal): Promise<AsyncIterable<ServiceEvent>> {
    const meta = asTransferMeta(transfer);
    if (!meta) throw new Error('malformed transfer metadata');
    const bytes = await pullTransfer(meta, { signal, idleMs: this.opts.pullIdleMs ?? 30_000 });
    const resume = decodeTransfer(this.model.config, this.model.fingerprint, bytes);
    signal.throwIfAborted();
    this.#served.decodeRemote++;
    return this.engine.submitResumed(req, resume, signal);
  }
}
