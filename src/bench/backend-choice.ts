/**
 * `--backend` / `--threads` for the benchmarks: turns a backend name and a thread count into a Backend through the
 * selection module (src/numerics/select.ts), and insists that the backend really computes on that many threads, since
 * the comparison with llama.cpp and the bandwidth probe use the same count. `ref` is single-threaded; `auto` takes the
 * wasm SIMD backend when it loads here and falls back to `ref` (with a notice) otherwise.
 */
import { TandemError } from '../errors.js';
import type { Backend } from '../numerics/backend.js';
import { BACKEND_NAMES, createBackend } from '../numerics/select.js';

export const BENCH_BACKENDS = BACKEND_NAMES;
export type BenchBackendName = (typeof BENCH_BACKENDS)[number];

export interface ChosenBackend {
  readonly backend: Backend;
  /** Threads the backend computes on (the caller's thread included). */
  readonly threads: number;
  /** Stops the backend's worker threads (nothing for `ref`). */
  dispose(): Promise<void>;
}

const REF_ONE_THREAD = 'backend ref runs on 1 thread (it is the single-threaded reference)';

export async function chooseBackend(name: BenchBackendName, threads: number, notice: (line: string) => void = () => {}): Promise<ChosenBackend> {
  if (name === 'ref' && threads !== 1) {
    throw new TandemError('BAD_ARGUMENT', `--threads ${threads}: ${REF_ONE_THREAD}; use --threads 1 or --backend wasm`);
  }
  const b = await createBackend(name, { threads, onNotice: notice });
  const got = 'threads' in b && typeof b.threads === 'number' ? b.threads : 1;
  if (got !== threads) {
    await b.close();
    throw new TandemError('BAD_ARGUMENT', `--threads ${threads}: ${b.name === 'ref' ? REF_ONE_THREAD : `backend ${b.name} started ${got} threads`}; use --threads ${got}`);
  }
  return { backend: b, threads: got, dispose: () => b.close() };
}
