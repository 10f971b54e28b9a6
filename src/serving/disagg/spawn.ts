/**
 * Worker processes started by the frontend: `node dist/src/cli/main.js worker …`, one per worker. Their stderr is
 * kept (last few KiB) so a worker that dies during startup can be reported with its own message. Every child is
 * SIGKILLed if this process exits without closing them; workers also exit by themselves when their registry
 * connection to the frontend drops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Role } from './messages.js';

/** dist/src/serving/disagg/spawn.js → dist/src/cli/main.js */
const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const TAIL = 4096;

export interface SpawnSpec {
  readonly id: string;
  readonly role: Role;
  readonly model: string;
  readonly registry: string;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Context cache flags for the worker (`tandem worker --cache-ram/--cache-disk/--no-cache`). */
  readonly cache?: WorkerCacheOptions;
}

/** A worker's context cache: off, or RAM with an optional disk tier (a shared directory is fine). */
export interface WorkerCacheOptions {
  readonly enabled: boolean;
  readonly ramBytes?: number;
  readonly disk?: { readonly dir: string; readonly bytes: number };
  readonly snapshotShare?: number;
  readonly eviction?: 'cost' | 'lru';
}

/** The `tandem worker` flags for `c`. */
export function cacheArgs(c: WorkerCacheOptions | undefined): string[] {
  if (!c) return [];
  if (!c.enabled) return ['--no-cache'];
  return [
    ...(c.ramBytes !== undefined ? ['--cache-ram', String(c.ramBytes)] : []), ...(c.disk ? ['--cache-disk', `${c.disk.dir}:${c.disk.bytes}`] : []),
    ...(c.snapshotShare !== undefined ? ['--cache-snapshot-share', String(c.snapshotShare)] : []), ...(c.eviction ? ['--cache-eviction', c.eviction] : []),
  ];
}

/** The V8 flags the fast kernels need (`tandem`'s shebang sets them), passed on to workers when this process has them. */
const KERNEL_FLAGS: ReadonlySet<string> = new Set(['--no-liftoff', '--experimental-wasm-relaxed-simd']);

export function kernelFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return execArgv.filter((f) => KERNEL_FLAGS.has(f));
}

interface Child {
  readonly proc: ChildProcess;
  stderr: string;
  exit: string | undefined;
  readonly exited: Promise<void>;
}

export class WorkerProcesses {
  readonly #children = new Map<string, Child>();
  readonly #onExit = (): void => {
    for (const c of this.#children.values()) if (c.exit === undefined) c.proc.kill('SIGKILL');
  };

  constructor() {
    process.on('exit', this.#onExit);
  }

  start(s: SpawnSpec): void {
    const args = [...kernelFlags(), CLI, 'worker', '--role', s.role, '--connect', s.registry, '--model', s.model, '--id', s.id,
      '--lease-ms', String(s.leaseMs), '--heartbeat-ms', String(s.heartbeatMs), ...cacheArgs(s.cache)];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...s.env } });
    let markExit: () => void = () => {};
    const child: Child = { proc, stderr: '', exit: undefined, exited: new Promise((r) => (markExit = r)) };
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (child.stderr = (child.stderr + d).slice(-TAIL)));
    proc.on('error', (e) => {
      child.exit ??= `could not start: ${e.message}`;
      markExit();
    });
    proc.on('exit', (code, signal) => {
      child.exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      markExit();
    });
    this.#children.set(s.id, child);
  }

  /** Throws if one of `ids` has already exited (used while waiting for their registrations). */
  assertAlive(ids: readonly string[]): void {
    for (const id of ids) {
      const c = this.#children.get(id);
      if (c && c.exit !== undefined) throw new Error(`worker ${id} ${c.exit} before registering${c.stderr ? `: ${c.stderr.trim()}` : ''}`);
    }
  }

  pid(id: string): number | undefined {
    return this.#children.get(id)?.proc.pid;
  }

  /** SIGTERM every child, SIGKILL those still running after `graceMs`; resolves when all have exited. */
  async stopAll(graceMs = 3000): Promise<void> {
    const live = [...this.#children.values()].filter((c) => c.exit === undefined);
    for (const c of live) c.proc.kill('SIGTERM');
    const timer = setTimeout(() => live.forEach((c) => c.exit === undefined && c.proc.kill('SIGKILL')), graceMs);
    await Promise.all(live.map((c) => c.exited));
    clearTimeout(timer);
    process.off('exit', this.#onExit);
  }
}
