/**
 * The `wasm` backend: matmul and embed on AssemblyScript SIMD kernels (assembly/), weights repacked once into shared
 * wasm memories (layout.ts, arena.ts), rows split over a worker pool (pool.ts). The Mamba-2 scans and conv, attention
 * and the element-wise ops run on single-thread kernels too (mamba-ops.ts, attention-ops.ts, elementwise-ops.ts, through
 * op-scratch.ts); routing, weight formats without a kernel (MXFP8, Inf/NaN contents) and shapes those kernels do not
 * take run the reference ops: correct, just slower.
 *
 * Weights are packed on first use (kept in a WeakMap, freed when the Matrix is garbage-collected), or up front by
 * `prepareMatrix`, whose result no longer carries the file bytes, so the loader can drop them (peak RSS ≈ packed
 * weights, not twice). Activation emulation (`w.act`) fake-quantizes the input as ref does, then runs the same kernel.
 * The kernels come in two builds (kernels.ts): relaxed SIMD where this process runs it, plain SIMD128 otherwise; `isa`
 * says which one a backend uses (both give bit-identical results).
 */
import os from 'node:os';
import type { Backend } from '../backend.js';
import type { Matrix } from '../tensor.js';
import { refBackend } from '../ref/index.js';
import { kernelInput } from '../ref/matmul.js';
import { TandemError } from '../../errors.js';
import { chooseIsa, kernelModule, WASM_MAX_PAGES, WASM_PAGE, type WasmIsa } from './kernels.js';
import { planMatrix, FORMAT_ID, type PackPlan } from './layout.js';
import { quantizeQ8Input } from './q8-input.js';
import { Arena, type Piece } from './arena.js';
import { ThreadPool } from './pool.js';
import type { Shard } from './shard.js';
import type { MatmulJob } from './control.js';
import { MambaOps, type HeadSplit } from './mamba-ops.js';
import { ElementwiseOps } from './elementwise-ops.js';
import { AttentionOps } from './attention-ops.js';
import { OpScratch } from './op-scratch.js';

export interface WasmBackendOptions {
  /** Threads including the caller (default: os.availableParallelism()). */
  readonly threads?: number;
  /** Bytes per wasm memory (default and maximum: 4 GiB − 64 KiB). Small values force sharding (tests). */
  readonly shardBytes?: number;
  /** A matmul is split over threads only when weight bytes × tokens reach this (default 64 KiB). */
  readonly minParallelBytes?: number;
  /** How long idle workers spin before sleeping, µs (default 50). */
  readonly spinUs?: number;
  /**
   * The relaxed-SIMD kernels (faster int8 decode): true requires them (UNSUPPORTED in a process without relaxed SIMD),
   * false never uses them; default: when this process runs relaxed SIMD right (Node 20: started with
   * `--experimental-wasm-relaxed-simd --no-liftoff`; see kernels.ts `relaxedSimdSupport`).
   */
  readonly relaxedSimd?: boolean;
}

export interface WasmBackend extends Backend {
  readonly threads: number;
  /** The kernel build in use: `relaxed-simd` or `simd128`. */
  readonly isa: WasmIsa;
  /**
   * Packs `m` for this backend now and returns the matrix to use from then on: same dtype, shape and `act`, but its
   * `data` (and FP4 block scales) are empty, so the caller may drop the file bytes. Matrices the kernels do not cover
   * come back unchanged (they keep running on the reference ops, which need the bytes).
   */
  prepareMatrix(m: Matrix): Matrix;
  /** Why `m` runs on the reference kernels, or null when it runs on wasm. */
  fallbackReason(m: Matrix): string | null;
  /** Shards (wasm memories) in use and the bytes of packed weights in them. */
  memoryStats(): { readonly shards: number; readonly weightBytes: number };
  /** Stops the worker threads; the backend must not be used afterwards. */
  close(): Promise<void>;
}

/** A packed matrix's plan without its `write` (which closes over the source bytes: keeping it would keep the file alive). */
type PlanMeta = Omit<PackPlan, 'write'>;

type Entry = { readonly kind: 'wasm'; readonly plan: PlanMeta; readonly pieces: readonly Piece[] } | { readonly kind: 'ref'; readonly reason: string };

/** Kernel formats with integer kernels for Q8_0-quantized inputs (assembly/int8.ts), and the kernel flag for them. */
const Q8_FORMATS: ReadonlySet<number> = new Set([FORMAT_ID.Q8_0, FORMAT_ID.Q4_0, FORMAT_ID.FP4X32, FORMAT_ID.FP4X64]);
const Q8_INPUT = 0x100;
const q8Scales = (T: number, colsP: number): number => Math.ceil((T * colsP) / 16) * 16;
/** Where the input codes' sums per 16 columns start after the scales (assembly/index.ts `q8Sums`). */
const q8Sums = (T: number, colsP: number): number => Math.ceil((q8Scales(T, colsP) + (T * colsP) / 8) / 16) * 16;

/** Room after the staged input for its sums per 32 columns (Q4_K / Q5_K decode). */
const xSumsBytes = (T: number, colsP: number): number => 64 + (T * colsP) / 8;

/** Writes the sums per 32 columns of the staged f32 input row (at x) after it; returns where they are. */
function stageSums(shard: Shard, x: number, colsP: number): number {
  const at = x + colsP * 4 + 64 - ((x + colsP * 4) % 64);
  const xv = shard.f32(x, colsP);
  const sums = shard.f32(at, colsP / 32);
  for (let b = 0; b < colsP / 32; b++) {
    let acc = 0;
    for (let j = b * 32; j < b * 32 + 32; j++) acc += xv[j]!;
    sums[b] = acc;
  }
  return at;
}

const EMPTY = new Uint8Array(0);
const MAX_SHARD = (WASM_MAX_PAGES - 1) * WASM_PAGE;

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const threads = Math.max(1, Math.floor(opts.threads ?? os.availableParallelism()));
  const shardBytes = Math.min(MAX_SHARD, Math.max(WASM_PAGE * 16, opts.shardBytes ?? MAX_SHARD));
  const isa = chooseIsa(opts.relaxedSimd);
  const module = kernelModule(isa);
  let pool: ThreadPool | undefined;
  const arena = new Arena(module, shardBytes, (s) => pool?.addMemory(s.memory));
  pool = threads > 1 ? await ThreadPool.start(threads - 1, module, arena.shards.map((s) => s.memory), { spinUs: opts.spinUs ?? 50 }) : undefined;
  const k = new WasmKernels(arena, pool, threads, opts.minParallelBytes ?? 64 * 1024);
  const scratch = new OpScratch(() => k.opShard());
  const mamba = new MambaOps(scratch, k.headSplit()), ew = new ElementwiseOps(scratch), attn = new AttentionOps(scratch);
  // A plain object of closures, not the class instance: callers spread backends (`{ ...base, matmul }`) and pass
  // methods around unbound, which would lose prototype methods and `this`.
  return {
    name: 'wasm',
    threads,
    isa,
    matmul: (out, x, T, w) => k.matmul(out, x, T, w),
    embed: (out, w, ids) => k.embed(out, w, ids),
    prepareMatrix: (m) => k.prepareMatrix(m),
    fallbackReason: (m) => k.fallbackReason(m),
    memoryStats: () => k.memoryStats(),
    close: () => k.close(),
    rmsNorm: (out, x, T, dim, weight, eps, groupSize) => ew.rmsNorm(out, x, T, dim, weight, eps, groupSize),
    siluGate: (y, z, T, dim, zStride) => ew.siluGate(y, z, T, dim, zStride),
    relu2: (x, n) => ew.relu2(x, n),
    addScaled: (acc, x, n, scale) => ew.addScaled(acc, x, n, scale),
    conv1d: (a) => mamba.conv1d(a),
    ssmScan: (a) => mamba.ssmScan(a),
    ssdChunkScan: (a) => mamba.ssdChunkScan(a),
    attention: (a) => attn.attention(a),
    route: refBackend.route,
  };
}

class WasmKernels {
  readonly threads: number;
  readonly #arena: Arena;
  readonly #pool: ThreadPool | undefined;
  readonly #minParallel: number;
  readonly #entries = new WeakMap<Matrix, Entry>();
  readonly #finalizer: FinalizationRegistry<readonly Piece[]>;
  #closed = false;

  constructor(arena: Arena, pool: ThreadPool | undefined, threads: number, minParallel: number) {
    this.#arena = arena;
    this.#pool = pool;
    this.threads = threads;
    this.#minParallel = minParallel;
    this.#finalizer = new FinalizationRegistry((pieces) => {
      if (!this.#closed) this.#arena.free(pieces);
    });
  }

  #entry(m: Matrix): Entry {
    let e = this.#entries.get(m);
    if (!e) {
      e = this.#pack(m);
      this.#entries.set(m, e);
      if (e.kind === 'wasm') this.#finalizer.register(m, e.pieces);
    }
    return e;
  }

  #pack(m: Matrix): Entry {
    this.#check();
    const r = planMatrix(m);
    if (r.kind === 'fallback') return { kind: 'ref', reason: r.reason };
    const pieces = this.#arena.place(r.plan);
    const { write: _written, ...plan } = r.plan;
    return { kind: 'wasm', plan, pieces };
  }

  /** Splitting a scan chunk's heads over the pool: all threads once the state work reaches minParallelBytes. */
  headSplit(): HeadSplit {
    const pool = this.#pool;
    if (!pool) return { parts: () => 1, post: () => undefined, wait: () => undefined };
    return {
      parts: (bytes) => (bytes >= this.#minParallel ? this.threads : 1),
      post: (p, op, args) => pool.postOp(p - 1, op, args),
      wait: (p) => pool.wait(p - 1),
    };
  }

  /** The shard whose scratch the non-matmul ops use (the first one; it always exists). */
  opShard(): Shard {
    this.#check();
    return this.#arena.shards[0]!;
  }

  #check(): void {
    if (this.#closed) throw new TandemError('BAD_ARGUMENT', 'the wasm backend was closed; create a new one');
  }

  prepareMatrix(m: Matrix): Matrix {
    if (this.#entries.has(m)) return m;
    const e = this.#pack(m);
    if (e.kind === 'ref') {
      this.#entries.set(m, e);
      return m;
    }
    const handle: Matrix = 'blockScales' in m ? { ...m, data: EMPTY, blockScales: EMPTY } : { ...m, data: EMPTY };
    this.#entries.set(handle, e);
    this.#finalizer.register(handle, e.pieces);
    return handle;
  }

  fallbackReason(m: Matrix): string | null {
    const e = this.#entry(m);
    return e.kind === 'ref' ? e.reason : null;
  }

  memoryStats(): { shards: number; weightBytes: number } {
    return { shards: this.#arena.shards.length, weightBytes: this.#arena.shards.reduce((n, s) => n + s.weights.usedBytes(), 0) };
  }

  matmul(out: Float32Array, x: Float32Array, T: number, w: Matrix): void {
    const e = this.#entry(w);
    if (e.kind === 'ref') return refBackend.matmul(out, x, T, w);
    this.#check();
    // Q8_0 inputs on Q8_0 / Q4_0 / FP4 weights, one token (decode): integer kernels (ggml's arithmetic). Several tokens
    // (prefill) and other emulations: fake-quantize the input as ref does, then the f32 kernels, whose token tiles
    // read each weight once per tile instead of once per token (the same products, summed in another order).
    const q8 = T === 1 && w.act?.format === 'q8_0' && Q8_FORMATS.has(e.plan.fmt) && e.plan.colsP === e.plan.cols;
    const xin = w.act && !q8 ? kernelInput(x, T, w) : x;
    for (const piece of e.pieces) {
      const shard = this.#arena.shards[piece.shard]!;
      const tc = this.#tokensPerCall(shard, e.plan, piece);
      for (let t0 = 0; t0 < T; t0 += tc) this.#runPiece(shard, e.plan, piece, xin, out, t0, Math.min(T, t0 + tc), q8);
    }
  }

  /** Writes input rows t0..t1 into the shard's scratch: f32 zero-padded to colsP, or Q8_0 codes, scales and code sums. */
  #stageInput(shard: Shard, plan: PlanMeta, xPtr: number, x: Float32Array, t0: number, t1: number, q8: boolean): void {
    const tc = t1 - t0;
    if (q8) {
      const codes = new Int8Array(shard.bytes().buffer, xPtr, tc * plan.colsP);
      const sums = new Int32Array(shard.bytes().buffer, xPtr + q8Sums(tc, plan.colsP), (tc * plan.colsP) / 16);
      quantizeQ8Input(x, t0, t1, plan.cols, codes, shard.f32(xPtr + q8Scales(tc, plan.colsP), (tc * plan.colsP) / 32), sums);
      return;
    }
    const xv = shard.f32(xPtr, tc * plan.colsP);
    if (plan.colsP === plan.cols) xv.set(x.subarray(t0 * plan.cols, t1 * plan.cols));
    else {
      xv.fill(0);
      for (let t = 0; t < tc; t++) xv.set(x.subarray((t0 + t) * plan.cols, (t0 + t + 1) * plan.cols), t * plan.colsP);
    }
  }

  /** Tokens one kernel call can take within the shard's scratch. */
  #tokensPerCall(shard: Shard, plan: PlanMeta, piece: Piece): number {
    const rowsP = (piece.g1 - piece.g0) * 4;
    const tiles = this.threads * 16 * plan.colsP;
    const perToken = plan.colsP * 4 + plan.colsP / 8 + rowsP * 4; // input, its Q8 scales or K4 sums, output
    const tc = Math.floor((shard.scratchLimit - tiles - 3 * 64) / perToken);
    if (tc < 1) throw new TandemError('UNSUPPORTED', `a ${plan.rows}×${plan.cols} matrix is too wide for the wasm scratch space`);
    return tc;
  }

  #runPiece(shard: Shard, plan: PlanMeta, piece: Piece, x: Float32Array, out: Float32Array, t0: number, t1: number, q8: boolean): void {
    const n = piece.g1 - piece.g0;
    const rowsP = n * 4;
    const tc = t1 - t0;
    const parts = this.#pool && n * plan.groupBytes * tc >= this.#minParallel ? Math.min(this.threads, n) : 1;
    const s = shard.scratch(tc * plan.colsP * 4 + xSumsBytes(tc, plan.colsP), tc * rowsP * 4, tc > 1 && !q8 ? parts * 16 * plan.colsP : 0);
    this.#stageInput(shard, plan, s.x, x, t0, t1, q8);
    const k4 = tc === 1 && (plan.fmt === FORMAT_ID.Q4_K || plan.fmt === FORMAT_ID.Q5_K);
    const aux = k4 ? stageSums(shard, s.x, plan.colsP) : piece.rs;
    const job = (g0: number, g1: number, part: number): MatmulJob => ({
      shard: shard.index, fmt: plan.fmt | (q8 ? Q8_INPUT : 0), w: piece.ptr, x: s.x, out: s.out, colsP: plan.colsP, T: tc, g0, g1, os: rowsP,
      tile: s.tiles + part * 16 * plan.colsP, rs: aux, tbl: plan.table ? shard.table(plan.table) : 0, gs: plan.gs,
    });
    const bound = (p: number): number => Math.round((n * p) / parts);
    for (let p = 1; p < parts; p++) this.#pool!.post(p - 1, job(bound(p), bound(p + 1), p));
    const j = job(0, bound(1), 0);
    shard.kernels.matmul(j.fmt, j.w, j.x, j.out, j.colsP, j.T, j.g0, j.g1, j.os, j.tile, j.rs, j.tbl, j.gs);
    for (let p = 1; p < parts; p++) this.#pool!.wait(p - 1);
    const ov = shard.f32(s.out, tc * rowsP);
    const r0 = piece.g0 * 4;
    const valid = Math.min(rowsP, plan.rows - r0);
    for (let t = 0; t < tc; t++) out.set(ov.subarray(t * rowsP, t * rowsP + valid), (t0 + t) * plan.rows + r0);
  }

  embed(out: Float32Array, w: Matrix, ids: readonly number[]): void {
    const e = this.#entry(w);
    if (e.kind === 'ref') return refBackend.embed(out, w, ids);
    this.#check();
    const { plan } = e;
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= plan.rows) {
        throw new TandemError('BAD_ARGUMENT', `embed: row ${id} is outside a matrix of ${plan.rows} rows`);
      }
      const piece = e.pieces.find((p) => id < p.g1 * 4)!;
      const shard = this.#arena.shards[piece.shard]!;
      const s = shard.scratch(plan.colsP * 4, 0, 16 * plan.colsP);
      shard.kernels.embedRow(plan.fmt, piece.ptr, plan.colsP, id - piece.g0 * 4, s.tiles, s.x, piece.rs, plan.table ? shard.table(plan.table) : 0, plan.gs);
      out.set(shard.f32(s.x, plan.cols), i * plan.cols);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool?.close();
  }
}
