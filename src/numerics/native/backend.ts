/**
 * The `native` backend: matmul and embed on the C++ kernels of the optional addon (native/: AVX-512 / AVX2 + FMA /
 * portable builds in one binary, chosen at run time; f32, f16, bf16, Q8_0, Q4_0 and ggml NVFP4 weights; int8 AVX-512
 * VNNI kernels for Q8_0 activations), weights repacked once by the addon, rows split over its own thread pool; on
 * AVX-512 also conv1d, both scans, RMSNorm, the SiLU gate, ReLU² and addScaled. Formats without a native kernel and
 * the remaining ops (attention, routing; all non-matmul ops without AVX-512) go to a delegate: the wasm backend when
 * it loads here, else ref. See README.md.
 *
 * Shapes as in the Backend contract. Weights are packed on first use (WeakMap; the addon frees them when the Matrix
 * is collected) or up front by `prepareMatrix`, whose handle has no bytes left (the loader can drop the file buffer).
 */
import os from 'node:os';
import type { Backend, ConvArgs, ScanArgs } from '../backend.js';
import type { Matrix } from '../tensor.js';
import { refBackend } from '../ref/index.js';
import { kernelInput } from '../ref/matmul.js';
import { deltaOf } from '../ref/ssm-scan.js';
import { createWasmBackend } from '../wasm/backend.js';
import { TandemError } from '../../errors.js';
import { loadNativeAddon, NATIVE_ISAS, type NativeAddon, type NativeContext, type NativeIsa, type NativePacked } from './addon.js';
import { nativePlan } from './layout.js';

export interface NativeBackendOptions {
  /** Threads including the caller (default: os.availableParallelism()); the delegate wasm backend gets as many. */
  readonly threads?: number;
  /** A matmul is split over threads only when packed weight bytes × tokens reach this (default 64 KiB). */
  readonly minParallelBytes?: number;
  /** How long idle workers spin before sleeping, µs (default 100). */
  readonly spinUs?: number;
  /** Kernel set (default: the best this CPU runs); forcing a slower one is for tests and benchmarks. */
  readonly isa?: NativeIsa;
}

export interface NativeBackend extends Backend {
  readonly threads: number;
  /** The kernel set in use. */
  readonly isa: NativeIsa;
  /** The backend that runs everything without a native kernel (`wasm` or `ref`). */
  readonly delegate: string;
  /**
   * Whether conv1d, the two scans, RMSNorm, the SiLU gate, ReLU² and addScaled run natively (AVX-512 kernel sets)
   * rather than on the delegate (attention and routing always do).
   */
  readonly nativeOps: boolean;
  prepareMatrix(m: Matrix): Matrix;
  /** Why `m` runs on the delegate backend, or null when it runs on the native kernels. */
  fallbackReason(m: Matrix): string | null;
  /** Bytes of packed weights this backend has made (including ones since collected). */
  memoryStats(): { readonly weightBytes: number };
  close(): Promise<void>;
}

type Entry = { readonly kind: 'native'; readonly packed: NativePacked } | { readonly kind: 'delegate'; readonly reason: string };

const EMPTY = new Uint8Array(0);

const isCount = (v: number): boolean => Number.isInteger(v) && v >= 0 && v < 2 ** 31;

/** The addon's activation code for `w.act` (native/src/common.h `Act`), or 0 when the TS side fake-quantizes. */
function addonAct(w: Matrix): 0 | 1 | 2 | 3 {
  switch (w.act?.format) {
    case 'q8_0':
      return w.cols % 32 === 0 ? 1 : 0;
    case 'f16':
      return 2;
    case 'bf16':
      return 3;
    default:
      return 0;
  }
}

/** Whether the addon loads here, and if not why: `missing` (never built) or `broken` (built but does not load). */
export function nativeAvailability(): { readonly ok: true } | { readonly ok: false; readonly kind: 'missing' | 'broken'; readonly reason: string } {
  const r = loadNativeAddon();
  return r.ok ? { ok: true } : { ok: false, kind: r.kind, reason: r.reason };
}

export async function createNativeBackend(opts: NativeBackendOptions = {}): Promise<NativeBackend> {
  const load = loadNativeAddon();
  if (!load.ok) throw new TandemError('UNSUPPORTED', `no native backend in this install: ${load.reason}; or use --backend wasm`);
  const addon = load.addon;
  const threads = Math.max(1, Math.floor(opts.threads ?? os.availableParallelism()));
  const features = addon.features();
  const isa = opts.isa ?? features.best;
  if (!NATIVE_ISAS.includes(isa) || !features.isas.includes(isa)) {
    throw new TandemError('UNSUPPORTED', `this CPU cannot run the native ${isa} kernels; use one of ${features.isas.join(', ')}`);
  }
  let delegate: Backend & { close?: () => Promise<void> };
  try {
    delegate = await createWasmBackend({ threads, ...(opts.spinUs !== undefined ? { spinUs: opts.spinUs } : {}) });
  } catch {
    delegate = refBackend;
  }
  const ctx = addon.createContext(isa, threads, Math.max(0, Math.floor(opts.spinUs ?? 100)), opts.minParallelBytes ?? 64 * 1024);
  const k = new NativeKernels(addon, ctx, delegate);
  // A plain object of closures (callers spread backends and pass methods around unbound).
  return {
    name: 'native',
    threads,
    isa,
    delegate: delegate.name,
    nativeOps: k.nativeOps,
    matmul: (out, x, T, w) => k.matmul(out, x, T, w),
    embed: (out, w, ids) => k.embed(out, w, ids),
    prepareMatrix: (m) => k.prepareMatrix(m),
    fallbackReason: (m) => k.fallbackReason(m),
    memoryStats: () => ({ weightBytes: k.weightBytes }),
    close: () => k.close(),
    rmsNorm: (out, x, T, dim, weight, eps, groupSize) => k.rmsNorm(out, x, T, dim, weight, eps, groupSize),
    siluGate: (y, z, T, dim, zStride) => k.siluGate(y, z, T, dim, zStride),
    relu2: (x, n) => k.relu2(x, n),
    addScaled: (acc, x, n, scale) => k.addScaled(acc, x, n, scale),
    conv1d: (a) => k.conv1d(a),
    ssmScan: (a) => k.scan(a, 0),
    ssdChunkScan: (a) => k.scan(a, 1),
    attention: delegate.attention,
    route: delegate.route,
  };
}

class NativeKernels {
  readonly #addon: NativeAddon;
  readonly #ctx: NativeContext;
  readonly #delegate: Backend & { close?: () => Promise<void> };
  readonly #entries = new WeakMap<Matrix, Entry>();
  readonly nativeOps: boolean;
  #delta = new Float64Array(0);
  #closed = false;
  weightBytes = 0;

  constructor(addon: NativeAddon, ctx: NativeContext, delegate: Backend & { close?: () => Promise<void> }) {
    this.#addon = addon;
    this.#ctx = ctx;
    this.#delegate = delegate;
    this.nativeOps = addon.hasOps(ctx);
  }

  #pack(m: Matrix): Entry {
    const plan = nativePlan(m);
    if (plan.kind === 'delegate') return plan;
    const p = this.#addon.pack(plan.fmt, m.rows, m.cols, m.data);
    if (typeof p === 'string') return { kind: 'delegate', reason: `${m.dtype} with ${p}` };
    this.weightBytes += this.#addon.packedBytes(p);
    return { kind: 'native', packed: p };
  }

  #entry(m: Matrix): Entry {
    let e = this.#entries.get(m);
    if (!e) {
      e = this.#pack(m);
      this.#entries.set(m, e);
    }
    return e;
  }

  #check(): void {
    if (this.#closed) throw new TandemError('BAD_ARGUMENT', 'the native backend was closed; create a new one');
  }

  prepareMatrix(m: Matrix): Matrix {
    this.#check();
    if (this.#entries.has(m)) return m;
    const e = this.#pack(m);
    if (e.kind === 'delegate') {
      const h = this.#delegate.prepareMatrix?.(m) ?? m;
      this.#entries.set(h, e);
      return h;
    }
    const handle: Matrix = { ...m, data: EMPTY };
    this.#entries.set(handle, e);
    return handle;
  }

  fallbackReason(m: Matrix): string | null {
    const e = this.#entry(m);
    return e.kind === 'delegate' ? e.reason : null;
  }

  matmul(out: Float32Array, x: Float32Array, T: number, w: Matrix): void {
    this.#check();
    const e = this.#entry(w);
    if (e.kind === 'delegate') return this.#delegate.matmul(out, x, T, w);
    if (!Number.isInteger(T) || T < 0 || x.length < T * w.cols || out.length < T * w.rows) {
      throw new TandemError('BAD_ARGUMENT', `matmul: T = ${T} needs x of ${T * w.cols} and out of ${T * w.rows} floats, got ${x.length} and ${out.length}`);
    }
    // ggml's activation types (Q8_0, F16, BF16): the addon quantizes x itself (int8 kernels for Q8_0 where the CPU has
    // them); every other emulation fake-quantizes the input as ref does, then runs the f32 kernels.
    const act = addonAct(w);
    if (act !== 0 && this.#addon.matmul(this.#ctx, e.packed, x, T, out, act)) return;
    this.#addon.matmul(this.#ctx, e.packed, w.act ? kernelInput(x, T, w) : x, T, out, 0);
  }

  embed(out: Float32Array, w: Matrix, ids: readonly number[]): void {
    this.#check();
    const e = this.#entry(w);
    if (e.kind === 'delegate') return this.#delegate.embed(out, w, ids);
    if (out.length < ids.length * w.cols) throw new TandemError('BAD_ARGUMENT', `embed: ${ids.length} rows need ${ids.length * w.cols} floats, got ${out.length}`);
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= w.rows) throw new TandemError('BAD_ARGUMENT', `embed: row ${id} is outside a matrix of ${w.rows} rows`);
      this.#addon.embed(e.packed, id, out, i * w.cols);
    });
  }

  // The non-matmul ops: on the addon where this context has them (AVX-512) and the arguments are plain, else the
  // delegate's (which also reports bad arguments the way the reference does).

  /** The Mamba-2 scans. */
  scan(a: ScanArgs, kind: 0 | 1): void {
    this.#check();
    const { T, numHeads: nh, headDim: P, stateSize: N, nGroups: G } = a;
    const ok = this.nativeOps && [nh, P, N, G].every((v) => Number.isInteger(v) && v > 0) && nh % G === 0 && Number.isInteger(T) && T >= 0;
    if (!ok) return kind === 1 ? this.#delegate.ssdChunkScan(a) : this.#delegate.ssmScan(a);
    if (T === 0) return;
    // Δ = clamp(softplus(dt + dt_bias)) in f64 with ref's own function, so every backend sees the same time steps
    if (this.#delta.length < T * nh) this.#delta = new Float64Array(T * nh);
    const delta = this.#delta;
    for (let t = 0; t < T; t++) for (let h = 0; h < nh; h++) delta[t * nh + h] = deltaOf(a, t, h);
    const dims = Int32Array.of(T, nh, P, N, G, Math.max(1, Math.min(2 ** 30, Math.floor(a.chunkSize) || 1)));
    this.#addon.scan(this.#ctx, kind, dims, a.x, a.B, a.C, delta, a.A, a.D, a.state, a.y);
  }

  conv1d(a: ConvArgs): void {
    this.#check();
    const ok = this.nativeOps && [a.channels, a.kernel].every((v) => Number.isInteger(v) && v > 0) && Number.isInteger(a.T) && a.T >= 0;
    if (!ok) return this.#delegate.conv1d(a);
    this.#addon.conv1d(this.#ctx, Int32Array.of(a.T, a.channels, a.kernel), a.x, a.weight, a.bias, a.state, a.out);
  }

  rmsNorm(out: Float32Array, x: Float32Array, T: number, dim: number, weight: Float32Array, eps: number, groupSize: number): void {
    this.#check();
    const ok = this.nativeOps && isCount(T) && isCount(dim) && isCount(groupSize) && groupSize > 0 && dim % groupSize === 0;
    if (!ok || !this.#addon.rmsNorm(this.#ctx, out, x, T, dim, weight, eps, groupSize)) this.#delegate.rmsNorm(out, x, T, dim, weight, eps, groupSize);
  }

  siluGate(y: Float32Array, z: Float32Array, T: number, dim: number, zStride: number): void {
    this.#check();
    const ok = this.nativeOps && isCount(T) && isCount(dim) && isCount(zStride);
    if (!ok || !this.#addon.siluGate(this.#ctx, y, z, T, dim, zStride)) this.#delegate.siluGate(y, z, T, dim, zStride);
  }

  relu2(x: Float32Array, n: number): void {
    this.#check();
    if (!this.nativeOps || !isCount(n) || !this.#addon.relu2(this.#ctx, x, n)) this.#delegate.relu2(x, n);
  }

  addScaled(acc: Float32Array, x: Float32Array, n: number, scale: number): void {
    this.#check();
    if (!this.nativeOps || !isCount(n) || !this.#addon.addScaled(this.#ctx, acc, x, n, scale)) this.#delegate.addScaled(acc, x, n, scale);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#addon.closeContext(this.#ctx);
    await this.#delegate.close?.();
  }
}
