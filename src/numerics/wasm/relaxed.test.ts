import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createWasmBackend } from './backend.js';
import { relaxedSimdSupport } from './kernels.js';
import type { CheckReport } from './relaxed-check.js';
import { TandemError } from '../../errors.js';

const CHECK = fileURLToPath(new URL('./relaxed-check.js', import.meta.url));
const CONFORMANCE = fileURLToPath(new URL('../conformance/run.js', import.meta.url));
const RELAXED_FLAGS = ['--experimental-wasm-relaxed-simd', '--no-liftoff'];

/** Runs a script in a child node with V8 flags; its stdout, or throws with its stderr. */
function runChild(flags: readonly string[], script: string, args: readonly string[] = []): string {
  const r = spawnSync(process.execPath, [...flags, script, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`node ${flags.join(' ')} ${script} exited ${r.status}: ${r.stderr}${r.stdout.slice(-2000)}`);
  return r.stdout;
}

function check(flags: readonly string[]): CheckReport {
  const out = runChild(flags, CHECK).trim().split('\n');
  return JSON.parse(out[out.length - 1]!) as CheckReport;
}

function assertBitEqual(r: CheckReport, tag: string): void {
  for (const c of r.cases) {
    console.log(`${tag} ${c.label}: ${c.mismatches}/${c.outputs} outputs differ from simd128, max |Δ| ${c.maxAbs}`);
    assert.equal(c.mismatches, 0, `${tag} ${c.label}: ${c.mismatches} outputs differ (max |Δ| ${c.maxAbs})`);
  }
}

test('this process: the default build follows relaxed-SIMD support; forcing it where it is absent is one clear error', async () => {
  const support = relaxedSimdSupport();
  const be = await createWasmBackend({ threads: 1 });
  try {
    console.log(`relaxed SIMD here: ${support}; default build ${be.isa}`);
    assert.equal(be.isa, support === 'ok' ? 'relaxed-simd' : 'simd128');
  } finally {
    await be.close();
  }
  const plain = await createWasmBackend({ threads: 1, relaxedSimd: false });
  assert.equal(plain.isa, 'simd128');
  await plain.close();
  if (support !== 'ok') {
    await assert.rejects(createWasmBackend({ threads: 1, relaxedSimd: true }), (e: unknown) => e instanceof TandemError && e.code === 'UNSUPPORTED' && /--no-liftoff/.test(e.message));
  }
});

test('relaxed-SIMD int8 decode kernels equal the simd128 ones bit for bit (child: --experimental-wasm-relaxed-simd --no-liftoff)', () => {
  const r = check(RELAXED_FLAGS);
  assert.equal(r.support, 'ok', 'relaxed SIMD should run (and run right) with these flags');
  assert.equal(r.isa, 'relaxed-simd');
  assert.ok(r.cases.length >= 24);
  assertBitEqual(r, 'relaxed');
});

test('with relaxed SIMD but the baseline compiler on, results are still the simd128 ones (child: --experimental-wasm-relaxed-simd)', () => {
  const r = check(['--experimental-wasm-relaxed-simd']);
  console.log(`relaxed SIMD with Liftoff: ${r.support}; default build ${r.isa}`);
  assert.equal(r.isa, r.support === 'ok' ? 'relaxed-simd' : 'simd128');
  assertBitEqual(r, `${r.isa} (Liftoff on)`);
});

test('the conformance suite passes on the relaxed-SIMD build, 1 and 2 threads (child: --experimental-wasm-relaxed-simd --no-liftoff)', () => {
  for (const backend of ['wasm', 'wasm-2t']) {
    const out = runChild(RELAXED_FLAGS, CONFORMANCE, ['--backend', backend, '--failures']);
    const head = out.split('\n').find((l) => l.startsWith('== backend')) ?? out;
    console.log(head);
    assert.match(head, /: (\d+)\/\1 cases pass/);
  }
});
