/**
 * The disaggregated inference service: a frontend that routes each request to prefill and decode worker
 * processes (serving spec §1.3–1.4, §1.7). It embeds the worker registry, by default spawns the workers itself and
 * waits for them to register, and implements `InferenceService`, so the HTTP server cannot tell it from a
 * `LocalEngine`. Routing and failure rules: request.ts. Wire protocol: transport.ts, messages.ts, transfer.ts.
 *
 * stats(): running / waiting / liveStates are the sums of the workers' latest reports (heartbeats, or a
 * `refreshStats()`), with every leased transfer counted as a live state; token totals and finish counts are the
 * frontend's own (each request counted once, not once per worker it touched).
 */
import { ServiceFullError, type GenerationRequest, type InferenceService, type ServiceEvent, type ServiceStats } from '../../engine/service.js';
import type { Role } from './messages.js';
import { WorkerPool, type WorkerView } from './pool.js';
import { EmbeddedRegistry } from './registry.js';
import { runRequest, type FlowContext } from './request.js';
import { WorkerProcesses, type WorkerCacheOptions } from './spawn.js';

/** Prompts with fewer uncached tokens than this skip the prefill pool (Dynamo's `isl_bounding` default). */
export const DEFAULT_DISAGG_THRESHOLD = 2048;

export interface DisaggregatedOptions {
  /** Model path the spawned workers load. */
  readonly model: string;
  readonly prefillWorkers: number;
  readonly decodeWorkers: number;
  /** Uncached prompt tokens from which a request is prefilled remotely (default 2048). */
  readonly threshold?: number;
  /** Registry address workers connect to (default 127.0.0.1:0, a free port). */
  readonly listen?: string;
  /** Spawn the worker processes (default true); otherwise wait for externally started `tandem worker`s. */
  readonly spawnWorkers?: boolean;
  /** Prefill lease: how long a prefilled state waits to be pulled (default 30 s). */
  readonly leaseMs?: number;
  readonly heartbeatMs?: number;
  /** A worker silent this long is dropped (default 30 s; a long forward step blocks a worker's heartbeats). */
  readonly heartbeatTimeoutMs?: number;
  /** A request with no message from its worker for this long fails with 504 (default 300 s). */
  readonly idleTimeoutMs?: number;
  /** How long to wait for the workers to register (default 60 s). */
  readonly startTimeoutMs?: number;
  /** Requests in flight at once before `submit` throws `ServiceFullError` (default 256). */
  readonly maxInflight?: number;
  /** Extra environment for spawned workers. */
  readonly workerEnv?: NodeJS.ProcessEnv;
  /**
   * Context cache of spawned workers (default: on, RAM only, the worker's default budget). With it on, requests
   * are routed cache-aware (request.ts); give every worker the same disk directory to share snapshots.
   */
  readonly cache?: WorkerCacheOptions;
  /** Routing cost of one in-flight request on a decode worker, in uncached prompt tokens (default 256). */
  readonly loadWeight?: number;
  /** Test hook: decode workers for which this returns false are never chosen for `req`. */
  readonly routeFilter?: (req: GenerationRequest, workerId: string) => boolean;
}

export interface DisaggregatedService extends InferenceService {
  /** Where workers register (`tandem worker --connect`). */
  readonly registryAddress: string;
  workers(): WorkerView[];
  /** Poll every worker for a fresh report, then return `stats()`. */
  refreshStats(): Promise<ServiceStats & { readonly leases: number }>;
  /** Spawn one more worker and wait until it has registered (xPyD reconfiguration). */
  addWorker(role: Role): Promise<string>;
}

class Frontend implements DisaggregatedService {
  #rid = 0;
  #seq = 0;
  #inflight = 0;
  #promptTokens = 0;
  #generationTokens = 0;
  readonly #finished: Record<string, number> = {};
  readonly #ctx: FlowContext;

  constructor(
    private readonly opts: DisaggregatedOptions,
    private readonly registry: EmbeddedRegistry,
    private readonly pool: WorkerPool,
    private readonly procs: WorkerProcesses | undefined,
  ) {
    this.#ctx = {
      pool, threshold: opts.threshold ?? DEFAULT_DISAGG_THRESHOLD, idleMs: opts.idleTimeoutMs ?? 300_000, nextRid: () => String(++this.#rid),
      // Externally started workers may have caches: probe them too (a cacheless worker answers 0).
      cacheAware: opts.cache?.enabled ?? true,
      ...(opts.loadWeight !== undefined ? { loadWeight: opts.loadWeight } : {}),
      ...(opts.routeFilter ? { routeFilter: opts.routeFilter } : {}),
    };
  }

  get registryAddress(): string {
    return this.registry.address;
  }

  get modelName(): string {
    return this.pool.any()?.modelName ?? 'unknown';
  }

  get maxContext(): number {
    return this.pool.any()?.maxContext ?? 0;
  }

  submit(req: GenerationRequest, signal: AbortSignal): AsyncIterable<ServiceEvent> {
    if (this.#inflight >= (this.opts.maxInflight ?? 256)) throw new ServiceFullError(1);
    return this.#tally(runRequest(this.#ctx, req, signal), req);
  }

  async *#tally(events: AsyncGenerator<ServiceEvent>, req: GenerationRequest): AsyncGenerator<ServiceEvent> {
    let end = 'abort';
    this.#inflight++;
    try {
      for await (const ev of events) {
        if (ev.type === 'token') this.#generationTokens++;
        else if (ev.type === 'finish') {
          end = ev.reason;
          this.#promptTokens += req.prompt.length;
        } else end = 'error';
        yield ev;
      }
    } finally {
      this.#inflight--;
      this.#finished[end] = (this.#finished[end] ?? 0) + 1;
    }
  }

  stats(): ServiceStats {
    const a = this.pool.aggregate();
    return {
      running: a.running, waiting: a.waiting, liveStates: a.liveStates,
      promptTokensTotal: this.#promptTokens, generationTokensTotal: this.#generationTokens, requestsFinished: { ...this.#finished },
    };
  }

  async refreshStats(): Promise<ServiceStats & { readonly leases: number }> {
    await this.pool.refresh();
    return { ...this.stats(), leases: this.pool.aggregate().leases };
  }

  workers(): WorkerView[] {
    return this.pool.views();
  }

  async addWorker(role: Role): Promise<string> {
    if (!this.procs) throw new Error('this frontend does not spawn workers; start a `tandem worker` yourself');
    const id = `${role}-${this.#seq++}`;
    const want = { prefill: this.pool.count('prefill'), decode: this.pool.count('decode') };
    want[role]++;
    this.procs.start(spawnSpec(this.opts, this.registry.address, id, role));
    await this.pool.waitFor(want.prefill, want.decode, this.opts.startTimeoutMs ?? 60_000, () => this.procs?.assertAlive([id]));
    return id;
  }

  /** Spawn the initial workers and wait for them. */
  async start(): Promise<void> {
    const roles: Role[] = [...Array<Role>(this.opts.prefillWorkers).fill('prefill'), ...Array<Role>(this.opts.decodeWorkers).fill('decode')];
    const ids = roles.map((role) => `${role}-${this.#seq++}`);
    ids.forEach((id, i) => this.procs?.start(spawnSpec(this.opts, this.registry.address, id, roles[i]!)));
    await this.pool.waitFor(this.opts.prefillWorkers, this.opts.decodeWorkers, this.opts.startTimeoutMs ?? 60_000, () => this.procs?.assertAlive(ids));
  }

  async close(): Promise<void> {
    this.pool.close();
    await this.registry.close();
    await this.procs?.stopAll();
  }
}

function spawnSpec(o: DisaggregatedOptions, registry: string, id: string, role: Role): Parameters<WorkerProcesses['start']>[0] {
  return { id, role, model: o.model, registry, leaseMs: o.leaseMs ?? 30_000, heartbeatMs: o.heartbeatMs ?? 1000, env: o.workerEnv, cache: o.cache };
}

/** Start the registry, spawn (or await) the workers, and return the routing service. */
export async function startDisaggregated(opts: DisaggregatedOptions): Promise<DisaggregatedService> {
  if (opts.decodeWorkers < 1) throw new Error('a disaggregated service needs at least one decode worker');
  const hb = opts.heartbeatMs ?? 1000;
  const registry = await EmbeddedRegistry.start(opts.listen ?? '127.0.0.1:0', { heartbeatTimeoutMs: opts.heartbeatTimeoutMs ?? Math.max(30_000, 10 * hb) });
  const pool = new WorkerPool(registry);
  const procs = opts.spawnWorkers === false ? undefined : new WorkerProcesses();
  const fe = new Frontend(opts, registry, pool, procs);
  try {
    await fe.start();
  } catch (e) {
    await fe.close();
    throw e;
  }
  return fe;
}
