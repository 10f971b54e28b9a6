/**
 * The native kernels against ref: every native format (and the Q8_0-activation int8 path; ggml NVFP4 also with every
 * UE4M3 scale byte) on shapes that are not
 * multiples of the blocking (rows vs the 16-row groups and 2-group panels, columns across the 256-column slabs), T =
 * 1, 2, 3 (direct kernels), 7, 17, 70 (GEMM tiles, token chunks), every kernel set this CPU runs, 1 and 2 threads.
 * Skipped, with the reason printed, when the addon is not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Matrix } from '../tensor.js';
import { fromFloat32 } from '../dtypes/index.js';
import { refBackend } from '../ref/index.js';
import { quantizeQ8Input } from '../wasm/q8-input.js';
import { matmulError, randn } from '../wasm/fixtures.js';
import { Rng } from '../../testing/rng.js';
import { TOLERANCE } from '../../testing/tolerances.js';
import { loadNativeAddon, type NativeIsa } from './addon.js';
import { createNativeBackend } from './backend.js';

const load = loadNativeAddon();
const skip = load.ok ? false : `native addon not built: ${load.reason}`;
if (skip) console.log(`native kernel tests skipped: ${skip}`);
const ISAS: readonly (NativeIsa | 'best')[] = load.ok ? load.addon.features().isas : ['best'];
const T_VALUES = [1, 2, 3, 7, 17, 70];

type Dt = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'ggml_nvfp4';
interface Case { readonly label: string; readonly m: Matrix }

function cases(seed: number): Case[] {
  const rng = new Rng(seed);
  const mk = (dtype: Dt, rows: number, cols: number, act?: 'q8_0' | 'f16' | 'bf16' | 'fp8'): Case => {
    const m: Matrix = { dtype, rows, cols, data: fromFloat32(dtype, randn(rng, rows * cols, 0.5)) };
    return { label: `${dtype}${act ? `+${act}` : ''} ${rows}×${cols}`, m: act ? { ...m, act: { format: act, scale: 0 } } : m };
  };
  return [
    mk('f32', 37, 45), mk('f32', 53, 520), mk('f16', 37, 45), mk('f16', 21, 300), mk('bf16', 37, 44), mk('bf16', 16, 260),
    mk('q8_0', 37, 96), mk('q8_0', 53, 288), mk('q4_0', 37, 160), mk('q4_0', 70, 288),
    mk('q8_0', 37, 96, 'q8_0'), mk('q8_0', 53, 288, 'q8_0'), mk('q4_0', 37, 64, 'q8_0'), mk('q4_0', 70, 288, 'q8_0'),
    mk('f16', 19, 64, 'f16'), mk('f16', 19, 45, 'f16'), mk('bf16', 21, 40, 'bf16'), mk('f32', 5, 64, 'q8_0'), mk('f32', 7, 48, 'fp8'),
    mk('ggml_nvfp4', 37, 64), mk('ggml_nvfp4', 53, 320), mk('ggml_nvfp4', 37, 128, 'q8_0'), mk('ggml_nvfp4', 70, 576, 'q8_0'),
    nvfp4Edges(rng, true), nvfp4Edges(rng, false),
  ];
}

/**
 * ggml NVFP4 with every scale byte 0x00..0xFF over its rows (subnormal UE4M3, 0x7F = 0, bit 7 set, 0xFF = 240) and
 * every code, with and without Q8_0 activations: the scale decoding and the E2M1 table in every kernel.
 */
function nvfp4Edges(rng: Rng, q8: boolean): Case {
  const rows = 40, cols = 448; // 7 blocks of 64 per row, 28 scale bytes: 40 × 28 ≥ 256
  const data = new Uint8Array(rows * (cols / 64) * 36);
  for (let blk = 0; blk < rows * (cols / 64); blk++) {
    for (let k = 0; k < 4; k++) data[blk * 36 + k] = (blk * 4 + k) & 0xff;
    for (let j = 4; j < 36; j++) data[blk * 36 + j] = Math.floor(rng.next() * 256);
  }
  const m: Matrix = { dtype: 'ggml_nvfp4', rows, cols, data };
  return { label: `ggml_nvfp4${q8 ? '+q8_0' : ''} every scale byte`, m: q8 ? { ...m, act: { format: 'q8_0', scale: 0 } } : m };
}

for (const isa of ISAS) {
  for (const threads of [1, 2]) {
    test(`native ${isa}, ${threads} thread(s): every format against ref, T = ${T_VALUES.join(', ')}`, { skip }, async () => {
      const be = await createNativeBackend({ threads, minParallelBytes: 0, ...(isa === 'best' ? {} : { isa }) });
      try {
        const rng = new Rng(threads * 31 + isa.length);
        for (const c of cases(7)) {
          assert.equal(be.fallbackReason(c.m), null, c.label);
          let worst = 0;
          for (const T of T_VALUES) {
            const x = randn(rng, T * c.m.cols);
            const want = new Float32Array(T * c.m.rows), got = new Float32Array(T * c.m.rows + 3).fill(NaN);
            refBackend.matmul(want, x, T, c.m);
            be.matmul(got, x, T, c.m);
            assert.ok(got.subarray(T * c.m.rows).every(Number.isNaN), `${c.label} T=${T}: wrote past the output`);
            const e = matmulError(got.subarray(0, T * c.m.rows), want, x, T, c.m);
            assert.ok(e <= TOLERANCE.nativeMatmulRel, `${c.label} T=${T}: error ${e} (tolerance ${TOLERANCE.nativeMatmulRel})`);
            worst = Math.max(worst, e);
          }
          console.log(`${be.isa} ×${threads} ${c.label}: max |Δ| / Σ|x·w| ${worst.toExponential(2)} (tolerance ${TOLERANCE.nativeMatmulRel})`);
        }
      } finally {
        await be.close();
      }
    });
  }
}

test('Q8_0 activation quantization is bit-exact with the JS quantizer in every kernel set (zeros, subnormals, huge values, ties)', { skip }, () => {
  if (!load.ok) return;
  const rng = new Rng(5);
  const cols = 256, T = 40;
  const x = randn(rng, T * cols);
  x.fill(0, 32, 64); // an all-zero block
  for (let j = 64; j < 96; j++) x[j] = (rng.normal() * 1e-40) || 1e-45; // subnormal amax: d underflows in f16
  for (let j = 96; j < 128; j++) x[j] = rng.normal() * 3e30;
  for (let j = 128; j < 160; j++) x[j] = (Math.round(rng.normal() * 100) + 0.5) / 127; // near-ties at 127/amax scale
  for (let j = 160; j < 192; j++) x[j] = j % 2 ? 65519 * 127 : -1; // d rounds to the largest f16, not Inf
  for (let t = 1; t < T; t++) for (let j = 0; j < 32; j++) x[t * cols + j] = Math.fround(x[t * cols + j]! * 10 ** ((t % 13) - 6));
  const want = new Int8Array(T * cols), wantD = new Float32Array((T * cols) / 32);
  quantizeQ8Input(x, 0, T, cols, want, wantD);
  for (const isa of load.addon.features().isas) {
    const got = new Int8Array(T * cols), gotD = new Float32Array((T * cols) / 32);
    assert.equal(load.addon.quantizeQ8(isa, x, cols, got, gotD), true);
    let codeDiffs = 0, scaleDiffs = 0;
    want.forEach((v, i) => (codeDiffs += v === got[i] ? 0 : 1));
    wantD.forEach((v, i) => (scaleDiffs += Object.is(v, gotD[i]) ? 0 : 1));
    console.log(`${isa} Q8_0 quantization: ${codeDiffs} of ${want.length} codes and ${scaleDiffs} of ${wantD.length} scales differ (tolerance 0)`);
    assert.equal(codeDiffs, 0, isa);
    assert.equal(scaleDiffs, 0, isa);
    for (const v of [NaN, Infinity, -Infinity]) {
      const bad = x.slice(0, cols);
      bad[37] = v;
      assert.equal(load.addon.quantizeQ8(isa, bad, cols, got.subarray(0, cols), gotD), false, `${isa} ${v}`);
    }
  }
});

test('f16 / bf16 activation rounding is bit-exact with ref (identity weight: out = the rounded input)', { skip }, async () => {
  const n = 64, T = 5;
  const eye = new Float32Array(n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = 1;
  const rng = new Rng(11);
  const x = randn(rng, T * n);
  const f16Tie = (k: number): number => (1 + (2 * k + 1) / 2048) * 2 ** (k % 9); // halfway between two f16 values
  for (let j = 0; j < n; j++) {
    x[n + j] = f16Tie(j);
    x[2 * n + j] = (1 + (2 * j + 1) / 256) * 2 ** (j % 7); // halfway between two bf16 values
    x[3 * n + j] = (j - 32) * 3.1e-6; // f16 subnormals and values that round to ±0
    x[4 * n + j] = (j % 2 ? -1 : 1) * (60000 + j * 7.25);
  }
  for (const isa of ISAS.filter((i) => i !== 'best') as NativeIsa[]) {
    const be = await createNativeBackend({ threads: 2, minParallelBytes: 0, isa });
    try {
      for (const format of ['f16', 'bf16'] as const) {
        const m: Matrix = { dtype: 'f32', rows: n, cols: n, data: new Uint8Array(eye.buffer.slice(0)), act: { format, scale: 0 } };
        for (const t of [1, T]) {
          const want = new Float32Array(t * n), got = new Float32Array(t * n);
          refBackend.matmul(want, x, t, m);
          be.matmul(got, x, t, m);
          const diffs = want.filter((v, i) => v !== got[i]).length;
          console.log(`${isa} ${format} rounding, T=${t}: ${diffs} of ${want.length} values differ (tolerance 0)`);
          assert.equal(diffs, 0);
        }
      }
    } finally {
      await be.close();
    }
  }
});

test('Inf/NaN inputs with Q8_0 activations give NaN where ref does (the JS fake-quantizer decides)', { skip }, async () => {
  const be = await createNativeBackend({ threads: 2, minParallelBytes: 0 });
  try {
    const rng = new Rng(9);
    const m: Matrix = { dtype: 'q4_0', rows: 20, cols: 64, data: fromFloat32('q4_0', randn(rng, 20 * 64)), act: { format: 'q8_0', scale: 0 } };
    const x = randn(rng, 3 * 64);
    x[70] = NaN;
    x[150] = Infinity;
    const want = new Float32Array(60), got = new Float32Array(60);
    refBackend.matmul(want, x, 3, m);
    be.matmul(got, x, 3, m);
    want.forEach((v, i) => assert.equal(Number.isNaN(got[i]!), Number.isNaN(v), `out[${i}]: ${got[i]} vs ${v}`));
    assert.ok(want.some(Number.isNaN));
    const e = matmulError(got.subarray(0, 20), want.subarray(0, 20), x.subarray(0, 64), 1, m);
    console.log(`finite token: max |Δ| / Σ|x·w| ${e.toExponential(2)} (tolerance ${TOLERANCE.nativeMatmulRel})`);
    assert.ok(e <= TOLERANCE.nativeMatmulRel);
  } finally {
    await be.close();
  }
});
