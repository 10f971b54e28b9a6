/**
 * Loads the optional native addon (native/, built at install time by scripts/build-native.mjs) and declares its N-API
 * surface (native/src/addon.cc). The addon is optional: `loadNativeAddon()` never throws, it says why there is none.
 * `TANDEM_NATIVE_ADDON=<path>` loads that file instead of native/build/Release/tandem_native.node (a path that does
 * not exist simulates a machine where the build failed).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Kernel sets, slowest first; `features().isas` lists the ones this CPU runs. */
export const NATIVE_ISAS = ['scalar', 'avx2', 'avx512', 'avx512-vnni'] as const;
export type NativeIsa = (typeof NATIVE_ISAS)[number];

export interface NativeFeatures {
  readonly avx2: boolean;
  readonly fma: boolean;
  readonly f16c: boolean;
  readonly avx512f: boolean;
  readonly avx512bw: boolean;
  readonly avx512dq: boolean;
  readonly avx512vl: boolean;
  readonly avx512vnni: boolean;
  readonly best: NativeIsa;
  readonly isas: readonly NativeIsa[];
}

declare const contextBrand: unique symbol;
declare const packedBrand: unique symbol;
/** A kernel set + thread pool + scratch (an N-API external). */
export type NativeContext = { readonly [contextBrand]: true };
/** A weight repacked to the G16 layout, owned by the addon and freed when this handle is collected. */
export type NativePacked = { readonly [packedBrand]: true };

/** The N-API surface version this TypeScript expects (native/src/addon.cc `kAbi`). */
export const NATIVE_ABI = 4;

export interface NativeAddon {
  readonly abi: number;
  features(): NativeFeatures;
  createContext(isa: NativeIsa, threads: number, spinUs: number, minParallelBytes: number): NativeContext;
  closeContext(ctx: NativeContext): void;
  /** The packed matrix, or why it stays on other kernels (e.g. an Inf/NaN block scale). */
  pack(fmt: number, rows: number, cols: number, data: Uint8Array): NativePacked | string;
  packedBytes(p: NativePacked): number;
  /**
   * act: 1 = quantize x to Q8_0 first (ggml; cols a multiple of 32), 2 / 3 = round x to f16 / bf16 first; false when
   * act 1 met Inf/NaN in x (nothing written).
   */
  matmul(ctx: NativeContext, p: NativePacked, x: Float32Array, T: number, out: Float32Array, act: 0 | 1 | 2 | 3): boolean;
  embed(p: NativePacked, row: number, out: Float32Array, offset: number): void;
  /** Whether this context has the non-matmul kernels below (the AVX-512 sets); they return false otherwise. */
  hasOps(ctx: NativeContext): boolean;
  /** kind 0: the sequential scan, 1: the chunked SSD scan; dims [T, nh, P, N, G, chunk]; Δ precomputed. */
  scan(
    ctx: NativeContext, kind: 0 | 1, dims: Int32Array, x: Float32Array, B: Float32Array, C: Float32Array, delta: Float64Array,
    A: Float32Array, D: Float32Array, state: Float32Array, y: Float32Array,
  ): boolean;
  /** Causal depthwise conv1d + bias + SiLU; dims [T, channels, kernel]. */
  conv1d(ctx: NativeContext, dims: Int32Array, x: Float32Array, weight: Float32Array, bias: Float32Array, state: Float32Array, out: Float32Array): boolean;
  rmsNorm(ctx: NativeContext, out: Float32Array, x: Float32Array, T: number, dim: number, weight: Float32Array, eps: number, groupSize: number): boolean;
  siluGate(ctx: NativeContext, y: Float32Array, z: Float32Array, T: number, dim: number, zStride: number): boolean;
  relu2(ctx: NativeContext, x: Float32Array, n: number): boolean;
  addScaled(ctx: NativeContext, acc: Float32Array, x: Float32Array, n: number, scale: number): boolean;
  /** Test hook: ggml Q8_0 quantization of rows of `cols` (a multiple of 32) by that kernel set's quantizer; false on Inf/NaN. */
  quantizeQ8(isa: NativeIsa, x: Float32Array, cols: number, codes: Int8Array, d: Float32Array): boolean;
}

/** The addon, or why there is none: `missing` (not built: the install printed why) or `broken` (built, does not load). */
export type AddonLoad =
  | { readonly ok: true; readonly addon: NativeAddon; readonly path: string }
  | { readonly ok: false; readonly kind: 'missing' | 'broken'; readonly reason: string };

/** Where the install-time build puts the addon (repo root / native / build / Release), from dist/src/numerics/native. */
export const DEFAULT_ADDON_PATH = fileURLToPath(new URL('../../../../native/build/Release/tandem_native.node', import.meta.url));

let cached: AddonLoad | undefined;

/** The addon, or why it is not there; loaded once per process. */
export function loadNativeAddon(): AddonLoad {
  cached ??= load(process.env['TANDEM_NATIVE_ADDON'] || DEFAULT_ADDON_PATH);
  return cached;
}

function load(path: string): AddonLoad {
  if (!existsSync(path)) return { ok: false, kind: 'missing', reason: `the addon is not built (${path} is missing; build it with \`node scripts/build-native.mjs\`, which needs a C++ compiler and Python 3)` };
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    if (typeof addon.matmul !== 'function' || typeof addon.features !== 'function') return { ok: false, kind: 'broken', reason: `${path} is not the Tandem native addon` };
    if (addon.abi !== NATIVE_ABI) return { ok: false, kind: 'broken', reason: `${path} is a stale build (ABI ${addon.abi}, expected ${NATIVE_ABI}); rebuild it with \`node scripts/build-native.mjs\`` };
    return { ok: true, addon, path };
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    return { ok: false, kind: 'broken', reason: `${path} does not load here (${msg}); rebuild it with \`node scripts/build-native.mjs\`` };
  }
}
