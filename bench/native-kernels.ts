/**
 * Side benchmark of the native kernels next to the wasm ones: y = W·x (decode, T = 1, GB/s of packed weights read,
 * ≥ `--gib` GiB of distinct weight copies cycled so the reads come from DRAM) and the prefill GEMM (T = 64 by default,
 * GFLOP/s = 2·rows·cols·T / time) on a 4096 × 4096 weight, per format, for each thread count.
 *
 *   npm run build && node --no-liftoff dist/bench/native-kernels.js [--threads 1,2] [--formats f32,q4_0,q8_0]
 *       [--tokens 64] [--gib 1] [--isa avx512-vnni] [--no-wasm]
 *
 * Formats: f32, f16, bf16, q8_0, q4_0, and q8_0+q8_0 / q4_0+q8_0 (ggml's Q8_0 activations: the native int8 kernels).
 * Prints one line per measurement, then a JSON summary.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createWasmBackend } from '../src/numerics/wasm/backend.js';
import { createNativeBackend } from '../src/numerics/native/backend.js';
import { loadNativeAddon, type NativeIsa } from '../src/numerics/native/addon.js';
import type { Backend } from '../src/numerics/backend.js';
import { fromFloat32 } from '../src/numerics/dtypes/index.js';
import { matrixBytes, type Matrix } from '../src/numerics/tensor.js';
import { Rng } from '../src/testing/rng.js';
import { medianCallMs } from '../src/bench/stats.js';

const N = 4096;

type Bench = Backend & { prepareMatrix(m: Matrix): Matrix; close(): Promise<void>; readonly threads: number; readonly isa?: string };

interface Row { readonly backend: string; readonly format: string; readonly threads: number; readonly T: number; readonly ms: number; readonly gbs: number; readonly gflops: number }

function weight(label: string, rng: Rng): Matrix {
  const [dtype, act] = label.split('+') as ['f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0', string | undefined];
  const w = Float32Array.from({ length: N * N }, () => rng.normal() * 0.02);
  const m: Matrix = { dtype, rows: N, cols: N, data: fromFloat32(dtype, w) };
  return act === 'q8_0' ? { ...m, act: { format: 'q8_0', scale: 0 } } : m;
}

const time = medianCallMs;

function row(backend: string, label: string, m: Matrix, threads: number, T: number, ms: number): Row {
  const r = { backend, format: label, threads, T, ms, gbs: matrixBytes(m) / ms / 1e6, gflops: (2 * N * N * T) / ms / 1e6 };
  const rate = T === 1 ? `${r.gbs.toFixed(2).padStart(6)} GB/s` : `${r.gflops.toFixed(1).padStart(6)} GFLOP/s`;
  console.log(`${`${backend}×${threads}`.padEnd(20)} ${label.padEnd(10)} T=${String(T).padEnd(3)} ${ms.toFixed(3).padStart(9)} ms  ${rate}`);
  return r;
}

function benchOne(be: Bench, name: string, label: string, src: Matrix, T: number, gib: number, rows: Row[]): void {
  const copies = Math.max(1, Math.ceil((gib * 2 ** 30) / matrixBytes(src)));
  const packed = Array.from({ length: copies }, () => be.prepareMatrix({ ...src }));
  const rng = new Rng(3);
  const x = Float32Array.from({ length: T * N }, () => rng.normal());
  const out = new Float32Array(T * N);
  rows.push(row(name, label, src, be.threads, 1, time(Math.max(40, copies * 2), copies, (i) => be.matmul(out, x, 1, packed[i % copies]!))));
  rows.push(row(name, label, src, be.threads, T, time(8, 2, () => be.matmul(out, x, T, packed[0]!))));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: '1,2' }, formats: { type: 'string', default: 'f32,f16,bf16,q8_0,q4_0,q8_0+q8_0,q4_0+q8_0' },
      tokens: { type: 'string', default: '64' }, gib: { type: 'string', default: '1' }, isa: { type: 'string' }, 'no-wasm': { type: 'boolean' },
    },
  });
  const load = loadNativeAddon();
  if (!load.ok) throw new Error(`the native addon is not built: ${load.reason}`);
  const T = Number(values.tokens), gib = Number(values.gib);
  console.log(`node ${process.version} ${process.execArgv.join(' ')}; native ${load.addon.features().isas.join(', ')}; ${N}×${N}, GEMM T=${T}`);
  const rows: Row[] = [];
  const rng = new Rng(7);
  for (const label of values.formats.split(',')) {
    const src = weight(label, rng);
    for (const threads of values.threads.split(',').map(Number)) {
      const makers: [string, () => Promise<Bench>][] = [['native', () => createNativeBackend({ threads, ...(values.isa ? { isa: values.isa as NativeIsa } : {}) })]];
      if (!values['no-wasm']) makers.push(['wasm', () => createWasmBackend({ threads })]);
      for (const [name, make] of makers) {
        const be = await make();
        try {
          benchOne(be, be.isa ? `${name} ${be.isa}` : name, label, src, T, gib, rows);
        } finally {
          await be.close();
        }
      }
    }
  }
  console.log(JSON.stringify(rows));
}

await main();
