/**
 * Backend selection: `--backend auto|ref|wasm|native`. `auto` takes the wasm SIMD backend when it loads here and
 * otherwise falls back to `ref` with a one-line notice; `ref` and `wasm` are forced. There is no native backend in
 * this build (`native` is a clear error, not a silent fallback).
 */
import type { Backend } from './backend.js';
import { refBackend } from './ref/index.js';
import { createWasmBackend, type WasmBackendOptions } from './wasm/backend.js';
import { TandemError, isTandemError } from '../errors.js';

export const BACKEND_NAMES = ['auto', 'ref', 'wasm', 'native'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendOptions extends WasmBackendOptions {
  /** Where the one-line notice goes when `auto` falls back to ref (default: stderr). */
  readonly onNotice?: (line: string) => void;
}

/** A backend the caller owns: `close()` stops its worker threads (a no-op for ref). */
export type OwnedBackend = Backend & { close(): Promise<void> };

/** One selectable backend, as the conformance suite and `--backend` list them. */
export interface BackendChoice {
  readonly name: 'ref' | 'wasm';
  readonly available: () => boolean;
  readonly create: (opts?: BackendOptions) => Promise<OwnedBackend>;
  readonly release: (backend: Backend) => Promise<void>;
}

const release = async (b: Backend): Promise<void> => {
  await (b as Partial<OwnedBackend>).close?.();
};

const wasmLoads = (): boolean => {
  try {
    return new Float32Array(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer).length > 0 && typeof Atomics.wait === 'function';
  } catch {
    return false;
  }
};

/** Every backend this build has, ref first. */
export function listBackends(): readonly BackendChoice[] {
  return [
    { name: 'ref', available: () => true, create: async () => ({ ...refBackend, close: async () => {} }), release },
    { name: 'wasm', available: wasmLoads, create: (opts) => createWasmBackend(opts), release },
  ];
}

export async function createBackend(name: string, opts: BackendOptions = {}): Promise<OwnedBackend> {
  switch (name) {
    case 'ref':
      return { ...refBackend, close: async () => {} };
    case 'wasm':
      return createWasmBackend(opts);
    case 'auto':
      try {
        return await createWasmBackend(opts);
      } catch (e) {
        const why = isTandemError(e) || e instanceof Error ? e.message : String(e);
        (opts.onNotice ?? ((l: string) => process.stderr.write(`${l}\n`)))(`notice: wasm backend unavailable (${why}); using the slow ref backend`);
        return { ...refBackend, close: async () => {} };
      }
    case 'native':
      throw new TandemError('UNSUPPORTED', 'there is no native backend in this build; use --backend wasm (or auto, or ref)');
    default:
      throw new TandemError('BAD_ARGUMENT', `unknown backend "${name}"; use one of ${BACKEND_NAMES.join(', ')}`);
  }
}
