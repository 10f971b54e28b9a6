/**
 * Worker discovery for the disaggregated frontend.
 *
 * `Registry` is what the frontend needs: the live workers, their latest self-reports, and a watch for workers
 * coming and going. `RegistrySession` is what a worker needs: register once, heartbeat, and learn when it has
 * lost its registration. The embedded implementation below keeps everything in the frontend process and talks
 * to workers over the framed protocol (one registry connection per worker; closing it deregisters). A NATS- or
 * etcd-backed registry can implement the same two interfaces later: register = put under a TTL lease,
 * heartbeat = lease keep-alive, watch = a prefix watch, lost = lease revoked.
 */
import type { Server } from 'node:net';
import { asWorkerInfo, type Role, type WorkerInfo, type WorkerSnapshot } from './messages.js';
import { connect, listen, type Connection } from './transport.js';

export interface RegisteredWorker {
  readonly info: WorkerInfo;
  /** The latest heartbeat's report (undefined until the first heartbeat). */
  snapshot: WorkerSnapshot | undefined;
  lastSeen: number;
}

export type RegistryEvent =
  | { readonly type: 'up'; readonly worker: RegisteredWorker }
  | { readonly type: 'down'; readonly worker: RegisteredWorker; readonly reason: string };

export interface Registry {
  /** Where workers register (what `tandem worker --connect` takes). */
  readonly address: string;
  list(role?: Role): readonly RegisteredWorker[];
  /** Subscribe to workers coming up and going down; returns the unsubscribe function. */
  watch(listener: (e: RegistryEvent) => void): () => void;
  close(): Promise<void>;
}

export interface RegistrySession {
  heartbeat(snapshot: WorkerSnapshot): void;
  /** Resolves with the reason once the registration is gone (registry closed, rejected, or unreachable). */
  readonly lost: Promise<string>;
  close(): void;
}

export interface EmbeddedRegistryOptions {
  /** A worker silent for this long is deregistered (a hung worker stops heartbeating). */
  readonly heartbeatTimeoutMs: number;
  /** A connection that has not registered within this time is dropped. */
  readonly registerTimeoutMs?: number;
}

/** The in-process registry: a framed TCP (or unix socket) listener that workers register with. */
export class EmbeddedRegistry implements Registry {
  readonly #workers = new Map<string, { w: RegisteredWorker; conn: Connection }>();
  readonly #listeners = new Set<(e: RegistryEvent) => void>();
  readonly #conns = new Set<Connection>();
  #fingerprint: string | undefined;
  #sweep: NodeJS.Timeout | undefined;

  private constructor(private readonly server: Server, readonly address: string, private readonly opts: EmbeddedRegistryOptions) {}

  static async start(addr: string, opts: EmbeddedRegistryOptions): Promise<EmbeddedRegistry> {
    let reg: EmbeddedRegistry | undefined;
    const pending: Connection[] = [];
    const { server, address } = await listen(addr, (c) => (reg ? reg.#accept(c) : pending.push(c)));
    reg = new EmbeddedRegistry(server, address, opts);
    for (const c of pending) reg.#accept(c);
    const every = Math.max(50, Math.floor(opts.heartbeatTimeoutMs / 4));
    reg.#sweep = setInterval(() => reg.#expire(), every);
    reg.#sweep.unref();
    return reg;
  }

  list(role?: Role): readonly RegisteredWorker[] {
    return [...this.#workers.values()].map((e) => e.w).filter((w) => role === undefined || w.info.role === role);
  }

  watch(listener: (e: RegistryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const c of this.#conns) this.#drop(c, 'the frontend is closing');
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(conn: Connection): void {
    this.#conns.add(conn);
    let id: string | undefined;
    const timer = setTimeout(() => id === undefined && conn.close('did not register in time'), this.opts.registerTimeoutMs ?? 10_000);
    timer.unref();
    conn.handlers = {
      onMessage: (m) => {
        if (m.t === 'register' && id === undefined) {
          id = this.#register(conn, m.worker);
          if (id === undefined) conn.close('registration rejected');
        } else if (m.t === 'heartbeat' && id !== undefined) {
          const e = this.#workers.get(id);
          if (e) {
            e.w.lastSeen = Date.now();
            e.w.snapshot = m.snapshot as WorkerSnapshot;
          }
        } else conn.close(`unexpected "${m.t}" message on the registry connection`);
      },
      onClose: (reason) => {
        clearTimeout(timer);
        this.#conns.delete(conn);
        if (id !== undefined) this.#deregister(id, reason);
      },
    };
  }

  /** Returns the worker id, or undefined after sending `rejected`. */
  #register(conn: Connection, raw: unknown): string | undefined {
    const info = asWorkerInfo(raw);
    const problem = !info ? 'malformed registration'
      : this.#workers.has(info.id) ? `a worker with id ${info.id} is already registered`
      : this.#fingerprint !== undefined && info.fingerprint !== this.#fingerprint
        ? `model fingerprint ${info.fingerprint.slice(0, 12)}… differs from the other workers' ${this.#fingerprint.slice(0, 12)}…`
        : undefined;
    if (!info || problem !== undefined) {
      conn.send({ t: 'rejected', message: problem });
      return undefined;
    }
    this.#fingerprint = info.fingerprint;
    const w: RegisteredWorker = { info, snapshot: undefined, lastSeen: Date.now() };
    this.#workers.set(info.id, { w, conn });
    conn.send({ t: 'registered' });
    this.#emit({ type: 'up', worker: w });
    return info.id;
  }

  #deregister(id: string, reason: string): void {
    const e = this.#workers.get(id);
    if (!e) return;
    this.#workers.delete(id);
    this.#emit({ type: 'down', worker: e.w, reason });
  }

  #expire(): void {
    const now = Date.now();
    for (const { w, conn } of this.#workers.values()) {
      if (now - w.lastSeen > this.opts.heartbeatTimeoutMs) this.#drop(conn, `no heartbeat for ${now - w.lastSeen} ms`);
    }
  }

  /** Tell the worker why, then close its registration. */
  #drop(conn: Connection, reason: string): void {
    conn.send({ t: 'deregistered', reason });
    conn.close(reason);
  }

  #emit(e: RegistryEvent): void {
    for (const l of this.#listeners) l(e);
  }
}

/** Worker side of the embedded registry: connect, register, and keep the connection as the registration. */
export async function registerWithFrontend(addr: string, info: WorkerInfo, timeoutMs = 10_000): Promise<RegistrySession> {
  const conn = await connect(addr, timeoutMs);
  let onLost: (reason: string) => void = () => {};
  const lost = new Promise<string>((resolve) => (onLost = resolve));
  let why: string | undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => conn.close('registration timed out'), timeoutMs);
    conn.handlers = {
      onMessage: (m) => {
        if (m.t === 'registered') {
          clearTimeout(timer);
          resolve();
        } else if (m.t === 'rejected') conn.close(`registration rejected: ${String(m.message)}`);
        else if (m.t === 'deregistered') why = `deregistered: ${String(m.reason)}`;
      },
      onClose: (reason) => {
        clearTimeout(timer);
        onLost(why ?? reason);
        reject(new Error(`cannot register with ${addr}: ${reason}`));
      },
    };
    conn.send({ t: 'register', worker: info });
  });
  return {
    heartbeat: (snapshot) => conn.send({ t: 'heartbeat', snapshot }),
    lost,
    close: () => conn.close('worker closing'),
  };
}
