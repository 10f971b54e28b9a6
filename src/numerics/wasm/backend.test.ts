import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmBackend } from './backend.js';
import { FreeList, ALIGN } from './allocator.js';
import { refBackend } from '../ref/index.js';
import { fromFloat32 } from '../dtypes/index.js';
import type { Matrix } from '../tensor.js';
import { createBackend, listBackends } from '../select.js';
import { TandemError } from '../../errors.js';
import { Rng } from '../../testing/rng.js';
import { TOLERANCE, maxAbsDiff } from '../../testing/tolerances.js';
import { weightCases, randn, matmulError } from './fixtures.js';

const code = (c: string) => (e: unknown): boolean => e instanceof TandemError && e.code === c;

test('free list: first fit, 64-byte alignment, coalescing on free', () => {
  const h = new FreeList(1000, 1000 + 64 * 10 + 24);
  const a = h.alloc(1)!, b = h.alloc(65)!, c = h.alloc(64)!;
  assert.deepEqual([a, b, c], [1024, 1088, 1216]);
  assert.equal(a % ALIGN, 0);
  assert.equal(h.alloc(64 * 7), undefined, 'only 6 blocks left');
  h.free(b);
  assert.equal(h.alloc(64 * 2), b, 'the freed span is reused');
  h.free(a), h.free(b), h.free(c);
  assert.equal(h.usedBytes(), 0);
  assert.equal(h.largestFree(), 64 * 10, 'all spans merged back into one');
  assert.throws(() => h.free(a), /not an allocated block/);
});

test('sharding: weights larger than one memory are split over several; results and embeddings unchanged', async () => {
  const rng = new Rng(21);
  const be = await createWasmBackend({ threads: 2, shardBytes: 1 << 20, minParallelBytes: 0 });
  try {
    const rows = 301, cols = 1000;
    const big: Matrix = { dtype: 'f32', rows, cols, data: fromFloat32('f32', randn(rng, rows * cols)) }; // 1.2 MB
    const q: Matrix = { dtype: 'q8_0', rows: 150, cols: 1024, data: fromFloat32('q8_0', randn(rng, 150 * 1024)) };
    for (const m of [big, q]) {
      for (const T of [1, 5]) {
        const x = randn(rng, T * m.cols);
        const want = new Float32Array(T * m.rows), got = new Float32Array(T * m.rows);
        refBackend.matmul(want, x, T, m);
        be.matmul(got, x, T, m);
        const e = matmulError(got, want, x, T, m);
        console.log(`sharded ${m.dtype} T=${T}: max |Δ| / Σ|x·w| ${e.toExponential(2)} (tolerance ${TOLERANCE.wasmMatmulRel})`);
        assert.ok(e <= TOLERANCE.wasmMatmulRel, `${m.dtype} T=${T}: ${e}`);
      }
      const ids = [0, m.rows >> 1, (m.rows >> 1) + 1, m.rows - 1, 97];
      const want = new Float32Array(ids.length * m.cols), got = new Float32Array(ids.length * m.cols);
      refBackend.embed(want, m, ids);
      be.embed(got, m, ids);
      assert.equal(maxAbsDiff(got, want).maxAbs, TOLERANCE.wasmEmbed);
    }
    const st = be.memoryStats();
    console.log(`shards ${st.shards}, packed weight bytes ${st.weightBytes}`);
    assert.ok(st.shards >= 2, `expected several 1 MiB shards, got ${st.shards}`);
  } finally {
    await be.close();
  }
});

test('a long prefill is cut into token chunks that fit the scratch space; results unchanged', async () => {
  const rng = new Rng(8);
  const be = await createWasmBackend({ threads: 2, shardBytes: 1 << 20, minParallelBytes: 0 });
  try {
    const m: Matrix = { dtype: 'q4_k', rows: 64, cols: 1024, data: fromFloat32('q4_k', randn(rng, 64 * 1024)) };
    const T = 130; // ≈ 4.5 KB of scratch per token against 256 KiB: three chunks
    const x = randn(rng, T * m.cols);
    const want = new Float32Array(T * m.rows), got = new Float32Array(T * m.rows);
    refBackend.matmul(want, x, T, m);
    be.matmul(got, x, T, m);
    const e = matmulError(got, want, x, T, m);
    console.log(`q4_k T=${T} in chunks: max |Δ| / Σ|x·w| ${e.toExponential(2)} (tolerance ${TOLERANCE.wasmMatmulRel})`);
    assert.ok(e <= TOLERANCE.wasmMatmulRel);
  } finally {
    await be.close();
  }
});

test('prepareMatrix: packs once and drops the file bytes; uncovered formats come back unchanged', async () => {
  const be = await createWasmBackend({ threads: 1 });
  try {
    const cases = weightCases(3);
    const q4 = cases.find((c) => c.m.dtype === 'q4_0')!.m;
    const nv = cases.find((c) => c.m.dtype === 'nvfp4')!.m;
    const before = be.memoryStats().weightBytes;
    for (const m of [q4, nv]) {
      const h = be.prepareMatrix(m);
      assert.notEqual(h, m);
      assert.equal(h.data.length, 0);
      if ('blockScales' in h) assert.equal(h.blockScales.length, 0);
      assert.deepEqual([h.dtype, h.rows, h.cols], [m.dtype, m.rows, m.cols]);
      const x = randn(new Rng(1), 3 * m.cols);
      const want = new Float32Array(3 * m.rows), got = new Float32Array(3 * m.rows);
      refBackend.matmul(want, x, 3, m);
      be.matmul(got, x, 3, h);
      assert.ok(matmulError(got, want, x, 3, m) <= TOLERANCE.wasmMatmulRel);
    }
    assert.ok(be.memoryStats().weightBytes > before);
    const k = cases.find((c) => c.m.dtype === 'mxfp8')!.m;
    assert.equal(be.prepareMatrix(k), k, 'no kernel: the matrix (and its bytes) stay as they are');
  } finally {
    await be.close();
  }
});

test('weights the bit tricks cannot decode (f16 Inf/NaN) run on ref, with the same Inf/NaN results', async () => {
  const be = await createWasmBackend({ threads: 1 });
  try {
    const data = fromFloat32('f16', Float32Array.from({ length: 4 * 8 }, (_, i) => i / 7));
    data[2 * 9 + 1] = 0x7c; // element 9 = +Inf
    const m: Matrix = { dtype: 'f16', rows: 4, cols: 8, data };
    assert.match(be.fallbackReason(m) ?? '', /Inf\/NaN/);
    const x = Float32Array.from({ length: 8 }, (_, i) => i - 3);
    const want = new Float32Array(4), got = new Float32Array(4);
    refBackend.matmul(want, x, 1, m);
    be.matmul(got, x, 1, m);
    assert.deepEqual(got, want);
  } finally {
    await be.close();
  }
});

test('a closed backend refuses new work with a clear error', async () => {
  const be = await createWasmBackend({ threads: 2 });
  await be.close();
  const m = weightCases(1)[0]!.m;
  assert.throws(() => be.matmul(new Float32Array(m.rows), new Float32Array(m.cols), 1, m), code('BAD_ARGUMENT'));
});

test('backend selection: auto takes native where its addon is built, else wasm; ref and wasm can be forced; native without the addon and unknown names are errors', async () => {
  const nativeHere = listBackends().some((b) => b.name === 'native' && b.available());
  const notices: string[] = [];
  const auto = await createBackend('auto', { threads: 1, onNotice: (l) => notices.push(l) });
  assert.equal(auto.name, nativeHere ? 'native' : 'wasm');
  assert.deepEqual(notices, []);
  await auto.close();
  const ref = await createBackend('ref');
  assert.equal(ref.name, 'ref');
  if (nativeHere) await (await createBackend('native', { threads: 1 })).close();
  else await assert.rejects(createBackend('native'), code('UNSUPPORTED'));
  await assert.rejects(createBackend('gpu'), code('BAD_ARGUMENT'));
  assert.deepEqual(listBackends().slice(0, 2).map((b) => [b.name, b.available()]), [['ref', true], ['wasm', true]]);
});
