import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmBackend } from './backend.js';
import { refBackend } from '../ref/index.js';
import { Rng } from '../../testing/rng.js';
import { TOLERANCE } from '../../testing/tolerances.js';
import { weightCases, randn, matmulError } from './fixtures.js';

const T_VALUES = [1, 2, 3, 7, 17];

for (const threads of [1, 3]) {
  test(`matmul: every format against ref, T = ${T_VALUES.join(', ')}, ${threads} thread(s)`, async () => {
    const be = await createWasmBackend({ threads, minParallelBytes: 0 });
    try {
      const rng = new Rng(threads);
      for (const c of weightCases(11)) {
        assert.equal(be.fallbackReason(c.m) === null, c.fast, `${c.label}: ${be.fallbackReason(c.m)}`);
        let worst = 0;
        for (const T of T_VALUES) {
          const x = randn(rng, T * c.m.cols);
          const want = new Float32Array(T * c.m.rows), got = new Float32Array(T * c.m.rows).fill(NaN);
          refBackend.matmul(want, x, T, c.m);
          be.matmul(got, x, T, c.m);
          const e = matmulError(got, want, x, T, c.m);
          assert.ok(e <= TOLERANCE.wasmMatmulRel, `${c.label} T=${T}: error ${e} (tolerance ${TOLERANCE.wasmMatmulRel})`);
          worst = Math.max(worst, e);
        }
        console.log(`${c.label}: max |Δ| / Σ|x·w| ${worst.toExponential(2)} (tolerance ${TOLERANCE.wasmMatmulRel})`);
      }
    } finally {
      await be.close();
    }
  });
}

test('embed: every format decodes rows exactly as ref does', async () => {
  const be = await createWasmBackend({ threads: 1 });
  try {
    for (const c of weightCases(5)) {
      const ids = [0, c.m.rows - 1, 5, 5, 2];
      const want = new Float32Array(ids.length * c.m.cols), got = new Float32Array(ids.length * c.m.cols).fill(NaN);
      refBackend.embed(want, c.m, ids);
      be.embed(got, c.m, ids);
      let e = 0;
      for (let i = 0; i < got.length; i++) e = Math.max(e, Number.isNaN(got[i]!) ? Infinity : Math.abs(got[i]! - want[i]!));
      console.log(`embed ${c.label}: max |Δ| ${e} (tolerance ${TOLERANCE.wasmEmbed})`);
      assert.ok(e <= TOLERANCE.wasmEmbed, `${c.label}: ${e}`);
    }
    const m = weightCases(5)[0]!.m;
    assert.throws(() => be.embed(new Float32Array(m.cols), m, [m.rows]), /outside a matrix/);
  } finally {
    await be.close();
  }
});
