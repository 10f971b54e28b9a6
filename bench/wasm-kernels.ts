/**
 * Side benchmark of the wasm kernels against the ref backend: y = W·x (decode, T = 1) and a small prefill GEMM on a
 * 4096 × 4096 weight in several formats. GB/s = packed weight bytes / time; each timed call uses a different copy of
 * the weight (≥ 1 GiB cycled for the wasm decode rows) so decode reads come from DRAM, as they do in a real model.
 *
 *   npm run build && node --no-liftoff dist/bench/wasm-kernels.js [--threads N] [--formats f32,q4_0] [--gib 1]
 *
 * Run it with `--no-liftoff` (V8's baseline wasm tier is several times slower and tier-up is lazy; see the report in
 * src/numerics/wasm/README.md). Prints one line per measurement, then a JSON summary.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createWasmBackend, type WasmBackend } from '../src/numerics/wasm/backend.js';
import { refBackend } from '../src/numerics/ref/index.js';
import { fromFloat32 } from '../src/numerics/dtypes/index.js';
import { quantizeNvfp4 } from '../src/numerics/dtypes/nvfp4.js';
import { matrixBytes, type Matrix } from '../src/numerics/tensor.js';
import { Rng } from '../src/testing/rng.js';
import { medianCallMs } from '../src/bench/stats.js';

const N = 4096;

function weight(format: string, rng: Rng): Matrix {
  const w = Float32Array.from({ length: N * N }, () => rng.normal() * 0.02);
  if (format === 'nvfp4') return { dtype: 'nvfp4', rows: N, cols: N, ...quantizeNvfp4(w, N, N) };
  return { dtype: format as 'f32', rows: N, cols: N, data: fromFloat32(format as 'f32', w) };
}

interface Row { readonly backend: string; readonly format: string; readonly T: number; readonly ms: number; readonly gbs: number; readonly gflops: number }

const time = medianCallMs;

function row(backend: string, m: Matrix, T: number, ms: number): Row {
  const r = { backend, format: m.dtype, T, ms, gbs: matrixBytes(m) / ms / 1e6, gflops: (2 * N * N * T) / ms / 1e6 };
  console.log(`${backend.padEnd(10)} ${m.dtype.padEnd(8)} T=${String(T).padEnd(3)} ${ms.toFixed(3).padStart(9)} ms  ${r.gbs.toFixed(2).padStart(6)} GB/s  ${r.gflops.toFixed(1).padStart(6)} GFLOP/s`);
  return r;
}

function benchFormat(be: WasmBackend, format: string, gib: number, rows: Row[]): void {
  const rng = new Rng(7);
  const src = weight(format, rng);
  const copies = Math.max(1, Math.ceil((gib * 2 ** 30) / matrixBytes(src)));
  const packed = Array.from({ length: copies }, () => be.prepareMatrix({ ...src }));
  const x = Float32Array.from({ length: 64 * N }, () => rng.normal());
  const out = new Float32Array(64 * N);
  rows.push(row(`wasm×${be.threads}`, src, 1, time(Math.max(40, copies * 2), copies, (i) => be.matmul(out, x, 1, packed[i % copies]!))));
  rows.push(row(`wasm×${be.threads}`, src, 16, time(6, 2, (i) => be.matmul(out, x, 16, packed[i % copies]!))));
  rows.push(row('ref', src, 1, time(3, 1, () => refBackend.matmul(out, x, 1, src))));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { threads: { type: 'string' }, formats: { type: 'string' }, gib: { type: 'string' } } });
  const formats = (values.formats ?? 'f32,f16,bf16,q8_0,q4_0,q4_k,q6_k,ggml_nvfp4,nvfp4').split(',');
  const gib = Number(values.gib ?? 1);
  const be = await createWasmBackend(values.threads ? { threads: Number(values.threads) } : {});
  const rows: Row[] = [];
  try {
    console.log(`node ${process.version} ${process.execArgv.join(' ')}; wasm threads ${be.threads}; 4096×4096`);
    for (const f of formats) benchFormat(be, f, gib, rows);
  } finally {
    await be.close();
  }
  console.log(JSON.stringify(rows));
}

await main();
