/**
 * Which backends the conformance suite runs: a registry that each backend adds itself to. `ref` is always there (it is
 * also the oracle, so it passes trivially); a new backend calls `registerBackend` from its module, or is listed in
 * `builtinBackends` below.
 */
import type { Backend } from '../backend.js';
import { TandemError } from '../../errors.js';
import { listBackends } from '../select.js';

export interface BackendEntry {
  readonly name: string;
  /** Creates the backend; may be async (e.g. compiling a WebAssembly module). */
  readonly create: () => Backend | Promise<Backend>;
  /** Whether it can run here (e.g. a GPU backend without a GPU); unavailable ones are skipped, not failed. */
  readonly available?: () => boolean | Promise<boolean>;
  /** Frees what `create` started (worker threads, device memory) so the process can exit. */
  readonly release?: (backend: Backend) => void | Promise<void>;
}

const registry = new Map<string, BackendEntry>();

/** Adds (or replaces) a backend under its name; returns a function that removes it again. */
export function registerBackend(entry: BackendEntry): () => void {
  registry.set(entry.name, entry);
  return () => {
    if (registry.get(entry.name) === entry) registry.delete(entry.name);
  };
}

/**
 * The backends a user can select (src/numerics/select.ts), so the suite tests exactly those: each one on 1 thread, and
 * multi-threaded backends also on 2 threads (row splits, handoffs and scratch sharing are where threading bugs live).
 */
function builtinBackends(): BackendEntry[] {
  return listBackends().flatMap((b): BackendEntry[] => {
    const one: BackendEntry = { name: b.name, available: b.available, create: () => b.create({ threads: 1 }), release: b.release };
    if (b.name === 'ref') return [one];
    return [one, { name: `${b.name}-2t`, available: b.available, create: () => b.create({ threads: 2, minParallelBytes: 0 }), release: b.release }];
  });
}

/** Every registered backend that reports itself available here, `ref` first. */
export async function availableBackends(): Promise<BackendEntry[]> {
  const all = new Map<string, BackendEntry>();
  for (const e of [...builtinBackends(), ...registry.values()]) all.set(e.name, e);
  const out: BackendEntry[] = [];
  for (const e of all.values()) if (!e.available || (await e.available())) out.push(e);
  return out;
}

/** The available backend called `name`; a one-line error naming the available ones otherwise. */
export async function findBackend(name: string): Promise<BackendEntry> {
  const entries = await availableBackends();
  const e = entries.find((x) => x.name === name);
  if (!e) throw new TandemError('BAD_ARGUMENT', `unknown or unavailable backend "${name}"; available here: ${entries.map((x) => x.name).join(', ')}`);
  return e;
}

/** Creates the backend of `entry`, hands it to `use`, and releases it afterwards (also when `use` throws). */
export async function withBackend<R>(entry: BackendEntry, use: (backend: Backend) => R | Promise<R>): Promise<R> {
  const backend = await entry.create();
  try {
    return await use(backend);
  } finally {
    await entry.release?.(backend);
  }
}
