/**
 * Child process of relaxed.test.ts (started with V8 flags such as `--experimental-wasm-relaxed-simd --no-liftoff`):
 * runs the int8 decode kernels (Q8_0 activations, T = 1) of a default wasm backend and of one forced to SIMD128 on the
 * same weights and inputs, and prints one JSON line: what relaxed SIMD looks like here, which build the default
 * backend took, and per case how many outputs differ in any bit. Weights are raw random blocks (every code value,
 * including the extremes the relaxed dot's operand range is about), inputs have an all-zero block and blocks of ±amax
 * (codes ±127).
 *
 *   node --experimental-wasm-relaxed-simd --no-liftoff dist/src/numerics/wasm/relaxed-check.js
 */
import { createWasmBackend, type WasmBackend } from './backend.js';
import { relaxedSimdSupport, type RelaxedSupport, type WasmIsa } from './kernels.js';
import type { Matrix } from '../tensor.js';
import { f32ToF16 } from '../dtypes/f16.js';
import { Rng } from '../../testing/rng.js';

export interface CheckCase {
  readonly label: string;
  readonly outputs: number;
  /** Outputs whose f32 bits differ between the default backend and the SIMD128 one. */
  readonly mismatches: number;
  readonly maxAbs: number;
}

export interface CheckReport {
  readonly support: RelaxedSupport;
  readonly isa: WasmIsa;
  readonly cases: readonly CheckCase[];
}

type Int8Format = 'q4_0' | 'ggml_mxfp4' | 'ggml_nvfp4' | 'q8_0';

/** Block size and bytes, and a writer for one random block at `o`. */
const BLOCKS: Readonly<Record<Int8Format, { cols: number; bytes: number; write: (b: Uint8Array, o: number, rng: Rng) => void }>> = {
  q4_0: { cols: 32, bytes: 18, write: (b, o, rng) => half(b, o, rng) },
  q8_0: { cols: 32, bytes: 34, write: (b, o, rng) => half(b, o, rng) },
  ggml_mxfp4: { cols: 32, bytes: 17, write: (b, o, rng) => void (b[o] = 118 + Math.floor(rng.uniform(0, 16))) }, // E8M0 2^-9..2^6
  ggml_nvfp4: { cols: 64, bytes: 36, write: (b, o, rng) => { for (let s = 0; s < 4; s++) b[o + s] = 0x20 + Math.floor(rng.uniform(0, 0x40)); } },
};

/** A random f16 scale in [2^-8, 2^-2) at o. */
function half(b: Uint8Array, o: number, rng: Rng): void {
  const h = f32ToF16(2 ** rng.uniform(-8, -2));
  b[o] = h & 255;
  b[o + 1] = h >> 8;
}

function randomMatrix(dtype: Int8Format, rows: number, cols: number, rng: Rng): Matrix {
  const f = BLOCKS[dtype];
  const nBlocks = (rows * cols) / f.cols;
  const data = new Uint8Array(nBlocks * f.bytes);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform(0, 256));
  for (let k = 0; k < nBlocks; k++) f.write(data, k * f.bytes, rng);
  return { dtype, rows, cols, data, act: { format: 'q8_0', scale: 0 } };
}

/** Normal inputs, except block 0 all zero and block 1 alternating ±3 (Q8_0 codes ±127). */
function input(cols: number, rng: Rng): Float32Array {
  const x = Float32Array.from({ length: cols }, () => rng.normal());
  x.fill(0, 0, 32);
  for (let j = 32; j < 64 && j < cols; j++) x[j] = j % 2 ? 3 : -3;
  return x;
}

function compare(label: string, a: Float32Array, b: Float32Array): CheckCase {
  const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
  let mismatches = 0, maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i]) mismatches++;
    maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
  }
  return { label, outputs: a.length, mismatches, maxAbs };
}

async function main(): Promise<void> {
  const support = relaxedSimdSupport();
  const rng = new Rng(41);
  const cases: CheckCase[] = [];
  let isa: WasmIsa = 'simd128';
  for (const threads of [1, 3]) {
    const auto: WasmBackend = await createWasmBackend({ threads, minParallelBytes: 0 });
    const plain: WasmBackend = await createWasmBackend({ threads, minParallelBytes: 0, relaxedSimd: false });
    isa = auto.isa;
    try {
      for (const dtype of ['q4_0', 'ggml_mxfp4', 'ggml_nvfp4', 'q8_0'] as const) {
        for (const [rows, cols] of [[13, 128], [37, 1024], [4, 4096]] as const) {
          const m = randomMatrix(dtype, rows, cols, rng);
          const x = input(cols, rng);
          const got = new Float32Array(rows), want = new Float32Array(rows);
          auto.matmul(got, x, 1, m);
          plain.matmul(want, x, 1, m);
          cases.push(compare(`${dtype} ${rows}×${cols}, ${threads} thread(s)`, got, want));
        }
      }
    } finally {
      await auto.close();
      await plain.close();
    }
  }
  const report: CheckReport = { support, isa, cases };
  console.log(JSON.stringify(report));
}

await main();
