/**
 * The wasm element-wise ops and attention (elementwise-ops.ts, attention-ops.ts) against the ref oracle at sizes off
 * the SIMD width, with the special values ref defines (NaN → 0 in ReLU², overflow to Inf), GQA with pos0 > 0 on f32
 * and FP8 caches, inputs split into blocks by a small scratch space, and shapes left to ref.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttentionArgs, KvView } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { f32ToE4m3 } from '../dtypes/fp8.js';
import { createWasmBackend, type WasmBackend } from './backend.js';
import { Rng } from '../../testing/rng.js';
import { TOLERANCE } from '../../testing/tolerances.js';
import { randn, expectClose } from './fixtures.js';

const TOL = TOLERANCE.conformance;

async function withWasm(opts: Parameters<typeof createWasmBackend>[0], use: (be: WasmBackend) => void): Promise<void> {
  const be = await createWasmBackend(opts);
  try {
    use(be);
  } finally {
    await be.close();
  }
}

function checkElementwise(be: WasmBackend, T: number, dim: number, gs: number, seed: number): void {
  const rng = new Rng(seed);
  const x = randn(rng, T * dim), w = randn(rng, dim), zs = dim + 3, z = randn(rng, T * zs, 3);
  const tag = `${be.name} T${T} dim${dim}`;
  const norm = [new Float32Array(T * dim), new Float32Array(T * dim)] as const;
  be.rmsNorm(norm[0], x, T, dim, w, 1e-5, gs);
  refBackend.rmsNorm(norm[1], x, T, dim, w, 1e-5, gs);
  expectClose(`${tag} rmsNorm group ${gs}`, norm[0], norm[1], TOL.rmsNorm.default);
  const gate = [x.slice(), x.slice()] as const;
  be.siluGate(gate[0], z, T, dim, zs);
  refBackend.siluGate(gate[1], z, T, dim, zs);
  expectClose(`${tag} siluGate zStride ${zs}`, gate[0], gate[1], TOL.siluGate.default);
  const sq = [x.slice(), x.slice()] as const;
  sq[0][0] = sq[1][0] = NaN;
  sq[0][1] = sq[1][1] = 3e19; // squares to Inf in f32
  be.relu2(sq[0], sq[0].length);
  refBackend.relu2(sq[1], sq[1].length);
  expectClose(`${tag} relu2`, sq[0], sq[1], TOL.relu2.default);
  const acc = [z.slice(0, T * dim), z.slice(0, T * dim)] as const;
  be.addScaled(acc[0], x, T * dim, -0.37);
  refBackend.addScaled(acc[1], x, T * dim, -0.37);
  expectClose(`${tag} addScaled`, acc[0], acc[1], TOL.addScaled.default);
}

test('element-wise ops: sizes off the SIMD width, group norms, strided gate input, NaN and overflow in relu2', async () => {
  await withWasm({ threads: 1 }, (be) => {
    checkElementwise(be, 3, 37, 37, 1);
    checkElementwise(be, 5, 96, 24, 2);
    checkElementwise(be, 1, 2048, 256, 3);
    checkElementwise(be, 2, 3, 3, 4);
  });
});

test('element-wise ops in blocks when the scratch is small, and in place', async () => {
  await withWasm({ threads: 1, shardBytes: 1 << 20 }, (be) => {
    checkElementwise(be, 300, 301, 301, 5); // ≈ 360 KB per array against 256 KiB of scratch
    const x = randn(new Rng(6), 40 * 64), w = new Float32Array(64).fill(1.5);
    const inPlace = x.slice(), want = new Float32Array(x.length);
    be.rmsNorm(inPlace, inPlace, 40, 64, w, 1e-6, 16);
    refBackend.rmsNorm(want, x, 40, 64, w, 1e-6, 16);
    expectClose('rmsNorm out = x', inPlace, want, TOL.rmsNorm.default);
  });
});

test('a norm group that does not divide the row runs the ref op (identical results)', async () => {
  await withWasm({ threads: 1 }, (be) => {
    const x = randn(new Rng(7), 2 * 10), w = randn(new Rng(8), 10);
    const got = new Float32Array(20), want = new Float32Array(20);
    be.rmsNorm(got, x, 2, 10, w, 1e-5, 4);
    refBackend.rmsNorm(want, x, 2, 10, w, 1e-5, 4);
    assert.deepEqual(got, want);
  });
});

interface AttnShape {
  readonly T: number;
  readonly pos0: number;
  readonly nq: number;
  readonly nkv: number;
  readonly dh: number;
  readonly fp8: boolean;
}

function attnArgs(s: AttnShape, seed: number): AttentionArgs {
  const rng = new Rng(seed);
  const len = s.pos0 + s.T, w = s.nkv * s.dh;
  const k = randn(rng, (len + 1) * w), v = randn(rng, (len + 1) * w, 2); // one spare row the op must not read
  k.fill(1e4, len * w), v.fill(-1e4, len * w);
  let kv: KvView = { format: 'f32', k, v };
  if (s.fp8) {
    const enc = (a: Float32Array): { codes: Uint8Array; scales: Float32Array } => {
      const scales = Float32Array.from({ length: (len + 1) * s.nkv }, () => rng.uniform(0.001, 0.01));
      const codes = Uint8Array.from(a, (x, i) => f32ToE4m3(x / scales[Math.floor(i / s.dh)]!));
      return { codes, scales };
    };
    const K = enc(k), V = enc(v);
    kv = { format: 'fp8', k: K.codes, v: V.codes, kScale: K.scales, vScale: V.scales };
  }
  return { T: s.T, pos0: s.pos0, numHeads: s.nq, numKvHeads: s.nkv, headDim: s.dh, q: randn(rng, s.T * s.nq * s.dh), kv, out: new Float32Array(s.T * s.nq * s.dh) };
}

function checkAttention(be: WasmBackend, s: AttnShape, seed: number): void {
  const a = attnArgs(s, seed), want = new Float32Array(a.out.length);
  be.attention(a);
  refBackend.attention({ ...a, out: want });
  const label = `${be.name} attention ${s.fp8 ? 'fp8' : 'f32'} nq${s.nq} nkv${s.nkv} dh${s.dh} pos0=${s.pos0} T${s.T}`;
  expectClose(label, a.out, want, s.fp8 ? TOL.attention.fp8 : TOL.attention.default);
}

test('attention: GQA, pos0 > 0, head dims off the SIMD width, f32 and FP8 caches', async () => {
  await withWasm({ threads: 1 }, (be) => {
    for (const fp8 of [false, true]) {
      checkAttention(be, { T: 9, pos0: 0, nq: 8, nkv: 2, dh: 128, fp8 }, 11);
      checkAttention(be, { T: 1, pos0: 30, nq: 4, nkv: 1, dh: 20, fp8 }, 12);
      checkAttention(be, { T: 5, pos0: 3, nq: 3, nkv: 3, dh: 6, fp8 }, 13);
      checkAttention(be, { T: 6, pos0: 7, nq: 6, nkv: 2, dh: 36, fp8 }, 14);
    }
  });
});

test('attention: queries in blocks when the scratch is small; a cache too large for it, or nq % nkv ≠ 0, runs ref', async () => {
  await withWasm({ threads: 1, shardBytes: 1 << 20 }, (be) => {
    checkAttention(be, { T: 200, pos0: 10, nq: 8, nkv: 2, dh: 32, fp8: false }, 21); // q + out ≈ 400 KB: blocks
    checkAttention(be, { T: 1, pos0: 700, nq: 4, nkv: 2, dh: 64, fp8: false }, 22); // K + V ≈ 720 KB: ref
    checkAttention(be, { T: 3, pos0: 2, nq: 5, nkv: 2, dh: 8, fp8: true }, 23);
  });
});
