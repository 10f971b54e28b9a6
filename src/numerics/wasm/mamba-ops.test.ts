/**
 * The wasm Mamba-2 ops (mamba-ops.ts, assembly/ssd.ts, assembly/conv.ts) against the ref oracle at the awkward sizes:
 * chunk sizes that do not divide T, P and N not multiples of 4 (the kernels' scalar tails), several B/C groups, T = 1,
 * a scratch space too small for one chunk (smaller chunks) or for all tokens (token blocks), and shapes the kernels
 * leave to ref. Every comparison is |got − ref| ≤ abs + rel·|ref| with the conformance rows of TOLERANCE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, ConvArgs, ScanArgs } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { createWasmBackend, type WasmBackend } from './backend.js';
import { Rng } from '../../testing/rng.js';
import { TOLERANCE } from '../../testing/tolerances.js';
import { randn, expectClose, type Closeness } from './fixtures.js';

interface ScanShape {
  readonly T: number;
  readonly nh: number;
  readonly P: number;
  readonly N: number;
  readonly G: number;
  readonly chunk: number;
  readonly dtLimit?: readonly [number, number];
  /** Start from a zero state (a fresh sequence: the kernel skips reading it out). */
  readonly fresh?: boolean;
}

function scanArgs(s: ScanShape, seed: number): () => ScanArgs {
  const rng = new Rng(seed);
  const { T, nh, P, N, G } = s;
  const x = randn(rng, T * nh * P), B = randn(rng, T * G * N), C = randn(rng, T * G * N), dt = randn(rng, T * nh);
  const dtBias = Float32Array.from({ length: nh }, () => rng.uniform(-3, 0.5));
  const A = Float32Array.from({ length: nh }, () => -rng.uniform(0.5, 8));
  const D = Float32Array.from({ length: nh }, () => rng.uniform(0.5, 1.5));
  const state0 = s.fresh ? new Float32Array(nh * P * N) : randn(rng, nh * P * N, 0.5);
  return () => ({
    T, numHeads: nh, headDim: P, stateSize: N, nGroups: G, x, B, C, dt, dtBias, dtLimit: s.dtLimit ?? [0, Infinity],
    A, D, state: state0.slice(), y: new Float32Array(T * nh * P), chunkSize: s.chunk,
  });
}

type ScanOp = 'ssmScan' | 'ssdChunkScan';

function runScan(be: Backend, op: ScanOp, a: ScanArgs): ScanArgs {
  be[op](a);
  return a;
}

function checkScan(be: Backend, op: ScanOp, s: ScanShape, seed: number, oracle: ScanOp = op): void {
  const args = scanArgs(s, seed);
  const got = runScan(be, op, args()), want = runScan(refBackend, oracle, args());
  const rows: Readonly<Record<string, Closeness>> = TOLERANCE.conformance[op];
  const tol = rows[op === oracle ? 'default' : `vs-${oracle}`]!;
  const label = `${be.name} ${op}${op === oracle ? '' : ` vs ref ${oracle}`} T${s.T} nh${s.nh} P${s.P} N${s.N} G${s.G} Q${s.chunk}${s.fresh ? ' fresh' : ''}`;
  expectClose(`${label} y`, got.y, want.y, tol);
  expectClose(`${label} state`, got.state, want.state, tol);
}

async function withWasm(opts: Parameters<typeof createWasmBackend>[0], use: (be: WasmBackend) => void): Promise<void> {
  const be = await createWasmBackend(opts);
  try {
    use(be);
  } finally {
    await be.close();
  }
}

test('ssdChunkScan: odd chunkings, P/N off the SIMD width, several groups, T = 1, against ref and the recurrence', async () => {
  await withWasm({ threads: 1 }, (be) => {
    checkScan(be, 'ssdChunkScan', { T: 37, nh: 4, P: 8, N: 16, G: 2, chunk: 16 }, 1); // 16 + 16 + 5
    checkScan(be, 'ssdChunkScan', { T: 23, nh: 6, P: 5, N: 7, G: 3, chunk: 6 }, 2); // scalar tails everywhere
    checkScan(be, 'ssdChunkScan', { T: 13, nh: 4, P: 12, N: 9, G: 4, chunk: 13 }, 3); // one head per group, 4×8 + 4×4 blocks
    checkScan(be, 'ssdChunkScan', { T: 1, nh: 2, P: 6, N: 10, G: 1, chunk: 8 }, 4);
    checkScan(be, 'ssdChunkScan', { T: 19, nh: 4, P: 16, N: 32, G: 2, chunk: 1 }, 5); // chunk 1 = the recurrence
    checkScan(be, 'ssdChunkScan', { T: 40, nh: 4, P: 8, N: 12, G: 2, chunk: 64, dtLimit: [0.01, 0.3] }, 6);
    checkScan(be, 'ssdChunkScan', { T: 33, nh: 6, P: 7, N: 11, G: 2, chunk: 8 }, 7, 'ssmScan');
    checkScan(be, 'ssdChunkScan', { T: 70, nh: 2, P: 64, N: 128, G: 1, chunk: 32 }, 8, 'ssmScan'); // real head sizes
    checkScan(be, 'ssdChunkScan', { T: 21, nh: 4, P: 8, N: 16, G: 2, chunk: 8, fresh: true }, 9); // later chunks carry state
  });
});

test('ssdChunkScan on 2 threads: heads split over the pool, also inside a B/C group; results as on one thread', async () => {
  await withWasm({ threads: 2, minParallelBytes: 0 }, (be) => {
    checkScan(be, 'ssdChunkScan', { T: 37, nh: 6, P: 8, N: 12, G: 3, chunk: 16 }, 51); // heads 0–2 | 3–5: group 1 on both
    checkScan(be, 'ssdChunkScan', { T: 20, nh: 8, P: 5, N: 7, G: 2, chunk: 8, fresh: true }, 52);
    checkScan(be, 'ssdChunkScan', { T: 9, nh: 1, P: 4, N: 4, G: 1, chunk: 4 }, 53); // one head: no split
  });
});

test('ssmScan: one decode step and several, off-width P and N, several groups', async () => {
  await withWasm({ threads: 1 }, (be) => {
    checkScan(be, 'ssmScan', { T: 1, nh: 4, P: 64, N: 128, G: 2, chunk: 8 }, 11);
    checkScan(be, 'ssmScan', { T: 1, nh: 6, P: 5, N: 7, G: 3, chunk: 8 }, 12);
    checkScan(be, 'ssmScan', { T: 9, nh: 4, P: 3, N: 6, G: 4, chunk: 8, dtLimit: [0.05, 0.5] }, 13);
  });
});

test('a scratch space too small for one chunk or for all tokens: smaller chunks and token blocks, same results', async () => {
  // 1 MiB shards keep 256 KiB of scratch: a 64-token chunk of these heads needs more, so it runs in smaller chunks;
  // the 700-token decode-form scan runs in token blocks.
  await withWasm({ threads: 1, shardBytes: 1 << 20 }, (be) => {
    checkScan(be, 'ssdChunkScan', { T: 150, nh: 8, P: 32, N: 64, G: 2, chunk: 64 }, 21, 'ssmScan');
    checkScan(be, 'ssmScan', { T: 700, nh: 4, P: 8, N: 16, G: 1, chunk: 8 }, 22);
    checkConv(be, { T: 600, channels: 61, kernel: 4 }, 23);
  });
});

test('a head count that is not a whole number of heads per group runs the ref scan (identical results)', async () => {
  await withWasm({ threads: 1 }, (be) => {
    const args = scanArgs({ T: 5, nh: 5, P: 4, N: 4, G: 2, chunk: 4 }, 31);
    for (const op of ['ssmScan', 'ssdChunkScan'] as const) {
      const got = runScan(be, op, args()), want = runScan(refBackend, op, args());
      assert.deepEqual([got.y, got.state], [want.y, want.state]);
    }
  });
});

function convArgs(s: { T: number; channels: number; kernel: number }, seed: number): () => ConvArgs {
  const rng = new Rng(seed);
  const { T, channels: Cd, kernel: K } = s;
  const x = randn(rng, T * Cd), weight = randn(rng, Cd * K, 0.4), bias = randn(rng, Cd, 0.1), state0 = randn(rng, (K - 1) * Cd);
  return () => ({ T, channels: Cd, kernel: K, x, weight, bias, state: state0.slice(), out: new Float32Array(T * Cd) });
}

function checkConv(be: Backend, s: { T: number; channels: number; kernel: number }, seed: number): void {
  const args = convArgs(s, seed);
  const got = args(), want = args();
  be.conv1d(got);
  refBackend.conv1d(want);
  const label = `${be.name} conv1d T${s.T} C${s.channels} K${s.kernel}`;
  expectClose(`${label} out`, got.out, want.out, TOLERANCE.conformance.conv1d.default);
  expectClose(`${label} state`, got.state, want.state, { abs: 0, rel: 0 }); // the state is copied, never computed
}

test('conv1d: channels off the SIMD width, kernel widths 1–4, T = 1 steps equal one prefill', async () => {
  await withWasm({ threads: 1 }, (be) => {
    checkConv(be, { T: 17, channels: 37, kernel: 4 }, 41);
    checkConv(be, { T: 1, channels: 4096, kernel: 4 }, 42);
    checkConv(be, { T: 5, channels: 3, kernel: 2 }, 43);
    checkConv(be, { T: 6, channels: 8, kernel: 1 }, 44);
    const args = convArgs({ T: 6, channels: 13, kernel: 3 }, 45);
    const whole = args(), steps = args();
    be.conv1d(whole);
    for (let t = 0; t < 6; t++) {
      be.conv1d({ ...steps, T: 1, x: steps.x.subarray(t * 13, (t + 1) * 13), out: steps.out.subarray(t * 13, (t + 1) * 13) });
    }
    assert.deepEqual([steps.out, steps.state], [whole.out, whole.state]);
  });
});

test('SiLU saturates like ref for large |pre-activation| (the vector exp clamps, no Inf/NaN)', async () => {
  await withWasm({ threads: 1 }, (be) => {
    const Cd = 9, x = Float32Array.from({ length: Cd }, (_, i) => [-1e4, -200, -88, -87, -20, 0, 20, 89, 1e4][i]!);
    const a: ConvArgs = { T: 1, channels: Cd, kernel: 1, x, weight: new Float32Array(Cd).fill(1), bias: new Float32Array(Cd), state: new Float32Array(0), out: new Float32Array(Cd) };
    const want = new Float32Array(Cd);
    be.conv1d(a);
    refBackend.conv1d({ ...a, out: want });
    expectClose('conv1d SiLU extremes', a.out, want, TOLERANCE.conformance.conv1d.default);
  });
});
