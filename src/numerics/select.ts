/**
 * Backend selection: `--backend auto|ref|wasm|native`. `auto` takes the native backend when its optional addon loads
 * here, else the wasm SIMD backend, else `ref`, with a one-line notice for a fallback the user has not been told about:
 * an addon that was built but does not load, or wasm failing. An addon that was never built falls back to wasm
 * silently (the install printed its one line saying why, and every command would repeat it). `ref`, `wasm` and
 * `native` are forced (`native` without a working addon is a clear one-line error, not a silent fallback).
 */
import type { Backend } from './backend.js';
import { refBackend } from './ref/index.js';
import { createWasmBackend, type WasmBackendOptions } from './wasm/backend.js';
import { createNativeBackend, nativeAvailability, type NativeBackendOptions } from './native/backend.js';
import { TandemError, isTandemError } from '../errors.js';

export const BACKEND_NAMES = ['auto', 'ref', 'wasm', 'native'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendOptions extends WasmBackendOptions, NativeBackendOptions {
  /** Where the one-line notices go when `auto` falls back (default: stderr). */
  readonly onNotice?: (line: string) => void;
}

/** A backend the caller owns: `close()` stops its worker threads (a no-op for ref). */
export type OwnedBackend = Backend & { close(): Promise<void> };

/** One selectable backend, as the conformance suite and `--backend` list them. */
export interface BackendChoice {
  readonly name: 'ref' | 'wasm' | 'native';
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

/** Every backend this build has, ref first (native only where its optional addon was built). */
export function listBackends(): readonly BackendChoice[] {
  const native = nativeAvailability();
  return [
    { name: 'ref', available: () => true, create: async () => ({ ...refBackend, close: async () => {} }), release },
    { name: 'wasm', available: wasmLoads, create: (opts) => createWasmBackend(opts), release },
    ...(native.ok || native.kind === 'broken' ? [{ name: 'native' as const, available: () => nativeAvailability().ok, create: (opts?: BackendOptions) => createNativeBackend(opts), release }] : []),
  ];
}

export async function createBackend(name: string, opts: BackendOptions = {}): Promise<OwnedBackend> {
  switch (name) {
    case 'ref':
      return { ...refBackend, close: async () => {} };
    case 'wasm':
      return createWasmBackend(opts);
    case 'auto':
      return autoBackend(opts);
    case 'native':
      return createNativeBackend(opts);
    default:
      throw new TandemError('BAD_ARGUMENT', `unknown backend "${name}"; use one of ${BACKEND_NAMES.join(', ')}`);
  }
}

const why = (e: unknown): string => (isTandemError(e) || e instanceof Error ? e.message : String(e));

/** native → wasm → ref, one notice line per step down (none for an addon that was never built; see the header). */
async function autoBackend(opts: BackendOptions): Promise<OwnedBackend> {
  const notice = opts.onNotice ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const native = nativeAvailability();
  if (native.ok) {
    try {
      return await createNativeBackend(opts);
    } catch (e) {
      notice(`notice: native backend unavailable (${why(e)}); using the wasm backend`);
    }
  } else if (native.kind === 'broken') notice(`notice: native backend unavailable (${native.reason}); using the wasm backend`);
  try {
    return await createWasmBackend(opts);
  } catch (e) {
    notice(`notice: wasm backend unavailable (${why(e)}); using the slow ref backend`);
    return { ...refBackend, close: async () => {} };
  }
}
