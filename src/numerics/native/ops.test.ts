/**
 * The native non-matmul ops (AVX-512 contexts) against ref: the Mamba-2 ops at the real model's head shapes (P = 64, N = 128, 4 heads per
 * group), over several chunks with a partial last one, as one prefill and as decode steps, on 1 and 2 threads; conv1d
 * with a channel tail; RMSNorm (whole rows and groups), SiLU gate (strided z), ReLU² (with NaN and −0) and addScaled
 * on lengths that are not multiples of the vectors. Tolerances: the conformance table's rows for these ops (|Δ| ≤ abs + rel·|ref|). Skipped, with
 * the reason printed, without the addon or without AVX-512 (those contexts delegate, which the conformance suite covers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConvArgs, ScanArgs } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { Rng } from '../../testing/rng.js';
import { TOLERANCE } from '../../testing/tolerances.js';
import { loadNativeAddon } from './addon.js';
import { createNativeBackend } from './backend.js';

const load = loadNativeAddon();
const isas = load.ok ? load.addon.features().isas : [];
const skip = !load.ok ? `native addon not built: ${load.reason}` : !isas.includes('avx512') ? 'no AVX-512 on this CPU: the Mamba ops delegate' : false;
if (skip) console.log(`native op tests skipped: ${skip}`);

const normals = (rng: Rng, n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => s * rng.normal());

function scanArgs(seed: number, T: number, chunkSize: number): ScanArgs {
  const rng = new Rng(seed);
  const nh = 8, P = 64, N = 128, G = 2;
  return {
    T, numHeads: nh, headDim: P, stateSize: N, nGroups: G, x: normals(rng, T * nh * P), B: normals(rng, T * G * N, 0.3), C: normals(rng, T * G * N, 0.3),
    dt: normals(rng, T * nh), dtBias: Float32Array.from({ length: nh }, () => rng.uniform(-4, -1)), dtLimit: [0, Infinity],
    A: Float32Array.from({ length: nh }, () => -Math.exp(rng.uniform(0, 2.7))), D: Float32Array.from({ length: nh }, () => rng.uniform(0.5, 1.5)),
    state: normals(rng, nh * P * N, 0.2), y: new Float32Array(T * nh * P), chunkSize,
  };
}

/** Largest |got − want| / (abs + rel·|want|): ≤ 1 passes. */
function worst(got: Float32Array, want: Float32Array, tol: { abs: number; rel: number }): number {
  let w = 0;
  for (let i = 0; i < want.length; i++) {
    const r = Math.abs(got[i]! - want[i]!) / (tol.abs + tol.rel * Math.abs(want[i]!));
    w = Math.max(w, Number.isNaN(r) ? Infinity : r);
  }
  return w;
}

for (const threads of [1, 2]) {
  test(`native SSD chunk scan and sequential scan vs ref (nh 8, P 64, N 128, G 2), ${threads} thread(s)`, { skip }, async () => {
    const be = await createNativeBackend({ threads, minParallelBytes: 0 });
    try {
      const tol = TOLERANCE.conformance.ssdChunkScan.default;
      for (const [T, Q] of [[300, 128], [37, 16], [5, 128]] as const) {
        const want = scanArgs(T, T, Q), got = scanArgs(T, T, Q);
        refBackend.ssdChunkScan(want);
        be.ssdChunkScan(got);
        const ey = worst(got.y, want.y, tol), es = worst(got.state, want.state, tol);
        console.log(`ssdChunkScan T=${T} Q=${Q}: y ${ey.toFixed(3)}, state ${es.toFixed(3)} of the tolerance (abs ${tol.abs} + rel ${tol.rel})`);
        assert.ok(ey <= 1 && es <= 1);
      }
      const steps = 6;
      const want = scanArgs(7, steps, 128), got = scanArgs(7, steps, 128);
      for (let t = 0; t < steps; t++) {
        const at = (a: ScanArgs): ScanArgs => ({ ...a, T: 1, x: a.x.subarray(t * 512, (t + 1) * 512), B: a.B.subarray(t * 256, (t + 1) * 256),
          C: a.C.subarray(t * 256, (t + 1) * 256), dt: a.dt.subarray(t * 8, (t + 1) * 8), y: a.y.subarray(t * 512, (t + 1) * 512) });
        refBackend.ssmScan(at(want));
        be.ssmScan(at(got));
      }
      const stol = TOLERANCE.conformance.ssmScan.default;
      const ey = worst(got.y, want.y, stol), es = worst(got.state, want.state, stol);
      console.log(`ssmScan ${steps} steps: y ${ey.toFixed(3)}, state ${es.toFixed(3)} of the tolerance (abs ${stol.abs} + rel ${stol.rel})`);
      assert.ok(ey <= 1 && es <= 1);
    } finally {
      await be.close();
    }
  });
}

test('the non-matmul ops run natively on the AVX-512 kernel sets only (the others delegate)', { skip }, async () => {
  for (const isa of isas) {
    const be = await createNativeBackend({ threads: 1, isa });
    assert.equal(be.nativeOps, isa === 'avx512' || isa === 'avx512-vnni', isa);
    await be.close();
  }
});

test('native conv1d + SiLU vs ref, prefill and single steps, with a channel tail', { skip }, async () => {
  const be = await createNativeBackend({ threads: 2, minParallelBytes: 0 });
  try {
    const rng = new Rng(3);
    const Cd = 200, K = 4, tol = TOLERANCE.conformance.conv1d.default;
    const weight = normals(rng, Cd * K, 0.5), bias = normals(rng, Cd, 0.1), state0 = normals(rng, (K - 1) * Cd);
    for (const T of [1, 2, 3, 70]) {
      const x = normals(rng, T * Cd);
      const run = (f: (a: ConvArgs) => void): [Float32Array, Float32Array] => {
        const a: ConvArgs = { T, channels: Cd, kernel: K, x, weight, bias, state: state0.slice(), out: new Float32Array(T * Cd) };
        f(a);
        return [a.out, a.state];
      };
      const [wo, ws] = run(refBackend.conv1d), [go, gs] = run(be.conv1d);
      const e = Math.max(worst(go, wo, tol), worst(gs, ws, tol));
      console.log(`conv1d T=${T}: ${e.toFixed(3)} of the tolerance (abs ${tol.abs} + rel ${tol.rel})`);
      assert.ok(e <= 1);
    }
  } finally {
    await be.close();
  }
});

test('native RMSNorm, SiLU gate, ReLU² and addScaled vs ref', { skip }, async () => {
  const be = await createNativeBackend({ threads: 2, minParallelBytes: 0 });
  try {
    const rng = new Rng(4);
    const tc = TOLERANCE.conformance;
    for (const [T, dim, group] of [[70, 1024, 1024], [9, 200, 40], [1, 2048, 256]] as const) {
      const x = normals(rng, T * dim, 3), w = normals(rng, dim);
      const want = new Float32Array(T * dim), got = new Float32Array(T * dim);
      refBackend.rmsNorm(want, x, T, dim, w, 1e-5, group);
      be.rmsNorm(got, x, T, dim, w, 1e-5, group);
      const inPlace = x.slice();
      be.rmsNorm(inPlace, inPlace, T, dim, w, 1e-5, group);
      const e = Math.max(worst(got, want, tc.rmsNorm.default), worst(inPlace, want, tc.rmsNorm.default));
      console.log(`rmsNorm T=${T} dim=${dim} group=${group}: ${e.toFixed(3)} of the tolerance`);
      assert.ok(e <= 1);

      const z = normals(rng, T * (dim + 13), 4);
      const yw = normals(rng, T * dim), yg = yw.slice();
      refBackend.siluGate(yw, z, T, dim, dim + 13);
      be.siluGate(yg, z, T, dim, dim + 13);
      const es = worst(yg, yw, tc.siluGate.default);
      console.log(`siluGate T=${T} dim=${dim}: ${es.toFixed(3)} of the tolerance`);
      assert.ok(es <= 1);
    }
    for (const n of [1, 17, 4096 * 3 + 5]) {
      const x = normals(rng, n + 3, 2);
      x[0] = NaN, x[1] = -0;
      const rw = x.slice(), rg = x.slice();
      refBackend.relu2(rw, n);
      be.relu2(rg, n);
      assert.deepEqual(rg, rw, `relu2 n=${n}`);
      const acc = normals(rng, n + 3), src = normals(rng, n);
      const aw = acc.slice(), ag = acc.slice();
      refBackend.addScaled(aw, src, n, 0.3712345678);
      be.addScaled(ag, src, n, 0.3712345678);
      const ea = worst(ag, aw, tc.addScaled.default);
      console.log(`relu2 n=${n}: identical; addScaled: ${ea.toFixed(3)} of the tolerance`);
      assert.ok(ea <= 1);
    }
  } finally {
    await be.close();
  }
});
