/**
 * Memory read bandwidth, measured in-process: `threads` worker threads each stream their own part of one shared
 * buffer (default 1 GiB, far beyond any last-level cache, so the bytes come from DRAM as weights do in decode) through
 * a wasm SIMD read kernel (read-kernel.ts: 16-byte loads, one integer add each, nothing written). One untimed pass
 * warms the pages and the JIT, then each timed pass reads the whole buffer once; GB/s = buffer bytes / wall time of the
 * pass (all threads together), best and median over the passes. This is the read-only streaming method of
 * specs/kernels.md; it is what a decode step at the roofline needs, not STREAM copy or triad.
 */
import { Worker } from 'node:worker_threads';
import { TandemError } from '../errors.js';
import type { BandwidthWorkerData, BandwidthWorkerReply } from './bandwidth-worker.js';
import { median } from './stats.js';
import { READ_STEP_BYTES, WASM_PAGE_BYTES, readKernelBytes, wasmApi, type WasmMemory } from './read-kernel.js';

export const BANDWIDTH_METHOD = 'wasm SIMD read-only streaming (v128.load + i32x4.add) over one shared buffer split between worker threads; best pass';

export interface BandwidthOptions {
  readonly threads: number;
  /** Buffer size; rounded up to whole 64 KiB pages. ≥ 1 GiB for a DRAM figure. */
  readonly bytes: number;
  /** Timed passes over the whole buffer (after one untimed warm-up pass). */
  readonly passes: number;
}

export interface BandwidthResult {
  readonly threads: number;
  readonly bufferBytes: number;
  readonly passes: number;
  /** Best pass, 1e9 bytes per second. */
  readonly readGBs: number;
  readonly medianGBs: number;
  readonly method: string;
}

const CALL_BYTES = 1 << 20;
/** Largest buffer a wasm32 memory can hold (4 GiB minus one page, to stay clear of the limit). */
export const MAX_BANDWIDTH_BYTES = 65535 * WASM_PAGE_BYTES;

/** Fill with a non-constant pattern (no zero pages, nothing a VM could merge); returns the expected kernel checksum. */
function fillPattern(memory: WasmMemory): number {
  const words = new Uint32Array(memory.buffer);
  const block = WASM_PAGE_BYTES / 4;
  let blockSum = 0;
  for (let i = 0; i < block; i++) {
    words[i] = (Math.imul(i + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;
    blockSum = (blockSum + words[i]!) >>> 0;
  }
  for (let filled = block; filled < words.length; filled *= 2) words.copyWithin(filled, 0, Math.min(filled, words.length - filled));
  const copies = words.length / block;
  return Number((BigInt(copies) * BigInt(blockSum)) % 2n ** 32n);
}

function allocate(bytes: number): WasmMemory {
  const pages = Math.ceil(bytes / WASM_PAGE_BYTES);
  try {
    return new wasmApi.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    throw new TandemError('BAD_ARGUMENT', `could not allocate a ${Math.round(bytes / 2 ** 20)} MiB buffer for the bandwidth probe; free memory or pass a smaller --bandwidth-mib`);
  }
}

/** Split [0, bytes) into `threads` spans whose lengths are multiples of the kernel's step (the last takes the rest). */
export function splitSpans(bytes: number, threads: number): Array<readonly [number, number]> {
  const per = Math.floor(bytes / threads / READ_STEP_BYTES) * READ_STEP_BYTES;
  return Array.from({ length: threads }, (_, t) => [t * per, t === threads - 1 ? bytes - (bytes % READ_STEP_BYTES) : (t + 1) * per] as const);
}

function startWorkers(memory: WasmMemory, threads: number): Worker[] {
  const module = new wasmApi.Module(readKernelBytes());
  const url = new URL('./bandwidth-worker.js', import.meta.url);
  return splitSpans(memory.buffer.byteLength, threads).map(([start, end]) => {
    const data: BandwidthWorkerData = { module, memory, start, end, callBytes: CALL_BYTES };
    return new Worker(url, { workerData: data });
  });
}

/** One pass: every worker reads its span once; resolves with the wall time and the combined checksum. */
function pass(workers: readonly Worker[]): Promise<{ ms: number; checksum: number }> {
  return new Promise((resolve, reject) => {
    let left = workers.length;
    let checksum = 0;
    const t0 = performance.now();
    for (const w of workers) {
      w.once('error', reject);
      w.once('message', (r: BandwidthWorkerReply) => {
        w.off('error', reject);
        checksum = (checksum + r.checksum) >>> 0;
        if (--left === 0) resolve({ ms: performance.now() - t0, checksum });
      });
      w.postMessage('run');
    }
  });
}

export async function measureReadBandwidth(o: BandwidthOptions): Promise<BandwidthResult> {
  const memory = allocate(o.bytes);
  const expected = fillPattern(memory);
  const workers = startWorkers(memory, o.threads);
  try {
    const rates: number[] = [];
    for (let i = 0; i <= o.passes; i++) {
      const { ms, checksum } = await pass(workers);
      if (checksum !== expected) throw new Error(`bandwidth probe read a wrong checksum ${checksum} (expected ${expected})`);
      if (i > 0) rates.push(memory.buffer.byteLength / (ms / 1000) / 1e9);
    }
    return {
      threads: o.threads, bufferBytes: memory.buffer.byteLength, passes: o.passes,
      readGBs: Math.max(...rates), medianGBs: median(rates), method: BANDWIDTH_METHOD,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
