/**
 * The native backend as a Backend: prepared handles, embed, delegation of the formats it has no kernel for, closing,
 * and selection (`--backend native|auto`), including a process where the addon is missing (TANDEM_NATIVE_ADDON).
 * The tests that need the addon are skipped, with the reason printed, when it is not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Matrix } from '../tensor.js';
import { fromFloat32 } from '../dtypes/index.js';
import { refBackend } from '../ref/index.js';
import { createBackend, listBackends } from '../select.js';
import { matmulError, randn } from '../wasm/fixtures.js';
import { Rng } from '../../testing/rng.js';
import { TOLERANCE } from '../../testing/tolerances.js';
import { isTandemError } from '../../errors.js';
import { loadNativeAddon } from './addon.js';
import { createNativeBackend } from './backend.js';

const load = loadNativeAddon();
const skip = load.ok ? false : `native addon not built: ${load.reason}`;
if (skip) console.log(`native backend tests skipped: ${skip}`);
const code = (c: string) => (e: unknown): boolean => isTandemError(e) && e.code === c;

const rng = new Rng(21);
const plain = (dtype: 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_k', rows: number, cols: number): Matrix => ({ dtype, rows, cols, data: fromFloat32(dtype, randn(rng, rows * cols, 0.5)) });

test('prepared handles drop the bytes and give the same results; delegated formats say why', { skip }, async () => {
  const be = await createNativeBackend({ threads: 2, minParallelBytes: 0 });
  try {
    assert.equal(be.delegate, 'wasm');
    for (const m of [plain('f32', 33, 70), plain('q4_0', 33, 256), plain('q8_0', 17, 64), plain('q4_k', 9, 256)]) {
      const x = randn(rng, 5 * m.cols);
      const before = new Float32Array(5 * m.rows), after = new Float32Array(5 * m.rows), want = new Float32Array(5 * m.rows);
      be.matmul(before, x, 5, m);
      const h = be.prepareMatrix({ ...m });
      be.matmul(after, x, 5, h);
      refBackend.matmul(want, x, 5, m);
      assert.deepEqual(after, before, m.dtype);
      const e = matmulError(after, want, x, 5, m);
      console.log(`${m.dtype}: prepared = unprepared, max |Δ| / Σ|x·w| vs ref ${e.toExponential(2)} (tolerance ${TOLERANCE.nativeMatmulRel})`);
      assert.ok(e <= TOLERANCE.nativeMatmulRel);
      if (m.dtype === 'q4_k') {
        assert.equal(be.fallbackReason(m), 'no native kernel for q4_k');
      } else {
        assert.equal(be.fallbackReason(h), null);
        assert.equal(h.data.length, 0);
      }
    }
    assert.ok(be.memoryStats().weightBytes > 0);
  } finally {
    await be.close();
  }
});

test('embed decodes rows exactly as ref does, from raw and prepared matrices', { skip }, async () => {
  const be = await createNativeBackend({ threads: 1 });
  try {
    for (const m of [plain('f32', 37, 45), plain('f16', 37, 45), plain('bf16', 20, 33), plain('q8_0', 37, 96), plain('q4_0', 37, 160)]) {
      const ids = [0, m.rows - 1, 5, 5, 17];
      const want = new Float32Array(ids.length * m.cols), got = new Float32Array(ids.length * m.cols).fill(NaN);
      refBackend.embed(want, m, ids);
      be.embed(got, be.prepareMatrix({ ...m }), ids);
      let e = 0;
      got.forEach((v, i) => (e = Math.max(e, Number.isNaN(v) ? Infinity : Math.abs(v - want[i]!))));
      console.log(`embed ${m.dtype}: max |Δ| ${e} (tolerance ${TOLERANCE.nativeEmbed})`);
      assert.ok(e <= TOLERANCE.nativeEmbed, m.dtype);
      assert.throws(() => be.embed(got, m, [m.rows]), /outside a matrix/);
    }
  } finally {
    await be.close();
  }
});

test('an Inf block scale, a wrong buffer size and a closed backend are handled', { skip }, async () => {
  const be = await createNativeBackend({ threads: 2 });
  const m = plain('q4_0', 16, 64);
  const inf = { ...m, data: m.data.slice() };
  inf.data[18] = 0x00, inf.data[19] = 0x7c; // block 1 of row 0: d = +Inf
  assert.match(be.fallbackReason(inf) ?? '', /Inf\/NaN block scale/);
  const want = new Float32Array(16), got = new Float32Array(16);
  const x = randn(rng, 64);
  refBackend.matmul(want, x, 1, inf);
  be.matmul(got, x, 1, inf);
  assert.deepEqual([...got].map(Number.isNaN), [...want].map(Number.isNaN));
  assert.throws(() => be.matmul(new Float32Array(3), x, 1, m), code('BAD_ARGUMENT'));
  await be.close();
  assert.throws(() => be.matmul(got, x, 1, m), code('BAD_ARGUMENT'));
  await be.close(); // twice is fine
});

test('selection: native is listed and forced; auto takes it; a kernel set this CPU lacks is one clear error', { skip }, async () => {
  assert.deepEqual(listBackends().map((b) => [b.name, b.available()]), [['ref', true], ['wasm', true], ['native', true]]);
  const notices: string[] = [];
  const auto = await createBackend('auto', { threads: 1, onNotice: (l) => notices.push(l) });
  assert.equal(auto.name, 'native');
  assert.deepEqual(notices, []);
  await auto.close();
  const forced = await createBackend('native', { threads: 2 });
  assert.equal(forced.name, 'native');
  assert.equal((forced as unknown as { threads: number }).threads, 2);
  await forced.close();
  const isas = load.ok ? load.addon.features().isas : [];
  if (!isas.includes('avx512-vnni')) await assert.rejects(createNativeBackend({ isa: 'avx512-vnni' }), /this CPU cannot run the native avx512-vnni kernels/);
});

/** Runs auto and native selection in a fresh process whose addon path is `addon`; the lines it printed. */
function selectWith(addon: string): string[] {
  const select = fileURLToPath(new URL('../select.js', import.meta.url));
  const script = `
    const { createBackend, listBackends } = await import(${JSON.stringify(select)});
    const lines = [];
    const auto = await createBackend('auto', { threads: 1, onNotice: (l) => lines.push(l) });
    lines.push('auto=' + auto.name);
    await auto.close();
    lines.push('listed=' + listBackends().filter((b) => b.available()).map((b) => b.name).join(','));
    try { await createBackend('native'); } catch (e) { lines.push(e.code + ': ' + e.message); }
    console.log(JSON.stringify(lines));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TANDEM_NATIVE_ADDON: addon }, encoding: 'utf8' });
  const lines = JSON.parse(out) as string[];
  console.log(lines.join('\n'));
  assert.ok(lines.every((l) => !l.includes('\n')));
  return lines;
}

test('without the addon: auto takes wasm silently (the install said why), --backend native is one clear error', () => {
  const lines = selectWith('/nonexistent/tandem_native.node');
  assert.equal(lines.length, 3);
  assert.equal(lines[0], 'auto=wasm');
  assert.equal(lines[1], 'listed=ref,wasm');
  assert.match(lines[2]!, /^UNSUPPORTED: no native backend in this install: the addon is not built \(\/nonexistent\/tandem_native\.node is missing; build it with `node scripts\/build-native\.mjs`, which needs a C\+\+ compiler and Python 3\); or use --backend wasm$/);
});

test('with an addon that does not load: auto says so in one notice line and takes wasm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-native-'));
  try {
    const bad = join(dir, 'tandem_native.node');
    writeFileSync(bad, 'not a shared object');
    const lines = selectWith(bad);
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /^notice: native backend unavailable \(.*tandem_native\.node does not load here \(.*\); rebuild it with `node scripts\/build-native\.mjs`\); using the wasm backend$/);
    assert.equal(lines[1], 'auto=wasm');
    assert.equal(lines[2], 'listed=ref,wasm');
    assert.match(lines[3]!, /^UNSUPPORTED: no native backend in this install: .*does not load here/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
