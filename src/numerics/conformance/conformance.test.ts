import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { TOLERANCE } from '../../testing/tolerances.js';
import { GUARD } from './inputs.js';
import { MATMUL_FORMATS } from './cases-matmul.js';
import {
  availableBackends, compareArrays, conformanceCases, formatFailure, formatResult, formatTable, registerBackend, runConformance, withBackend,
  type CaseResult, type ConformanceCase,
} from './index.js';
import { main } from './run.js';

const CASES = conformanceCases();
const only = (...ops: string[]): ConformanceCase[] => CASES.filter((c) => ops.includes(c.op));
const patched = (name: string, patch: Partial<Backend>): Backend => ({ ...refBackend, ...patch, name });

/** Max error per op over passing results (the measured numbers the tolerance rule asks tests to print). */
function printMaxima(backend: string, results: readonly CaseResult[]): void {
  const by = new Map<string, { abs: number; rel: number }>();
  for (const r of results) {
    const m = by.get(r.op) ?? { abs: 0, rel: 0 };
    by.set(r.op, { abs: Math.max(m.abs, r.maxAbs), rel: Math.max(m.rel, r.maxRel) });
  }
  console.log(`${backend}: ${[...by].map(([op, m]) => `${op} ${m.abs.toExponential(1)}/${m.rel.toExponential(1)}`).join(', ')} (max abs/rel)`);
}

test('the suite covers every op, every weight format with its activation emulations, both KV formats, T = 1 and T > 1', () => {
  const ops = new Set(CASES.map((c) => c.op));
  for (const op of Object.keys(refBackend).filter((k) => k !== 'name')) assert.ok(ops.has(op as CaseResult['op']), `no case for ${op}`);
  assert.ok(ops.has('moe'));
  const formats = new Set(MATMUL_FORMATS.map((f) => f.weight.dtype));
  const all = ['f32', 'f16', 'bf16', 'f8_e4m3', 'f8_e5m2', 'nvfp4', 'mxfp4', 'mxfp8', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'ggml_mxfp4', 'ggml_nvfp4'];
  assert.deepEqual([...formats].sort(), [...all].sort());
  for (const f of all) {
    for (const T of [1, 3, 17]) assert.ok(CASES.some((c) => c.op === 'matmul' && c.format === f && c.name.endsWith(`/T${T}`)), `matmul ${f} T${T}`);
    assert.ok(CASES.some((c) => c.op === 'embed' && c.format === f), `embed ${f}`);
  }
  for (const act of ['f16+f16', 'bf16+bf16', 'f8_e4m3+fp8', 'f8_e4m3+fp8/static', 'nvfp4+nvfp4', 'nvfp4+nvfp4/static', 'q8_0+q8_0', 'q4_0+q8_0', 'q4_k+q8_k', 'q5_k+q8_k', 'q6_k+q8_k', 'ggml_mxfp4+q8_0', 'ggml_nvfp4+q8_0']) {
    assert.ok(CASES.some((c) => c.format === act), `activation emulation ${act}`);
  }
  for (const kv of ['f32', 'fp8']) {
    assert.ok(CASES.some((c) => c.op === 'attention' && c.format === kv && c.name.includes('pos0=0/T17')));
    assert.ok(CASES.some((c) => c.op === 'attention' && c.format === kv && /pos0=[1-9]/.test(c.name) && c.name.endsWith('/T1')));
  }
  assert.ok(CASES.some((c) => c.name.startsWith('ssdChunkScan vs ssmScan')));
  assert.ok(CASES.some((c) => c.name.startsWith('route/') && !c.name.includes('groups1of1')));
  assert.ok(CASES.some((c) => c.name.includes('T1 steps vs T5')));
});

test('ref against itself passes every case, with zero error (chunked SSD vs the recurrence: within ssdVsScan)', () => {
  const results = runConformance(refBackend);
  printMaxima('ref', results);
  for (const r of results) {
    const bound = r.format.startsWith('vs-') ? TOLERANCE.ssdVsScan : 0;
    assert.ok(r.pass && r.maxAbs <= bound && r.firstBadIndex === -1, formatResult(r));
    if (bound > 0) console.log(formatResult(r));
  }
  assert.match(formatTable(results), new RegExp(`${results.length} of ${results.length} cases pass`));
});

test('inputs are deterministic: two fresh case lists give bit-identical oracle outputs', () => {
  const again = conformanceCases();
  assert.equal(again.length, CASES.length);
  for (const [i, c] of CASES.entries()) {
    if (!['matmul', 'attention', 'ssdChunkScan', 'route'].includes(c.op)) continue;
    const a = c.run(refBackend), b = again[i]!.run(refBackend);
    assert.equal(again[i]!.name, c.name);
    a.forEach((o, k) => assert.deepEqual(b[k]!.data, o.data, `${c.name} ${o.name}`));
  }
});

test('every available backend passes (the registry: ref today, plus whatever registers)', async () => {
  const entries = await availableBackends();
  assert.ok(entries.some((e) => e.name === 'ref'));
  for (const e of entries) {
    const results = await withBackend(e, (backend) => runConformance(backend));
    printMaxima(e.name, results);
    const failures = results.filter((r) => !r.pass).map(formatFailure);
    assert.deepEqual(failures, [], `${e.name} fails:\n${failures.join('\n')}`);
  }
});

test('ulp-level noise on every float output stays inside the tolerances', () => {
  const jiggle = (a: Float32Array): void => {
    for (let i = 0; i < a.length; i++) a[i] = a[i]! * (1 + (i % 3 - 1) * 2 ** -22);
  };
  const noisy = patched('ulp-noise', {
    matmul(out, x, T, w) {
      refBackend.matmul(out, x, T, w);
      jiggle(out);
    },
    rmsNorm(out, ...rest) {
      refBackend.rmsNorm(out, ...rest);
      jiggle(out);
    },
    ssmScan(a) {
      refBackend.ssmScan(a);
      jiggle(a.y);
      jiggle(a.state);
    },
    attention(a) {
      refBackend.attention(a);
      jiggle(a.out);
    },
    conv1d(a) {
      refBackend.conv1d(a);
      jiggle(a.out);
    },
  });
  const results = runConformance(noisy);
  printMaxima('ulp-noise', results);
  assert.deepEqual(results.filter((r) => !r.pass).map(formatFailure), []);
  assert.ok(results.some((r) => r.maxAbs > 0), 'the noise was applied');
});

test('a backend that perturbs one matmul output element fails every case using matmul, at that index', () => {
  const broken = patched('broken-matmul', {
    matmul: (out, x, T, w) => {
      refBackend.matmul(out, x, T, w);
      if (out.length > 5) out[5] = out[5]! + 0.5;
    },
  });
  const results = runConformance(broken, refBackend, only('matmul', 'moe', 'embed'));
  for (const r of results) {
    if (r.op === 'embed') {
      assert.ok(r.pass, formatResult(r));
      continue;
    }
    assert.equal(r.pass, false, r.case);
    if (r.op === 'moe') continue; // the router logits feed the routing: which output breaks first depends on the case
    assert.equal(r.output, 'out');
    assert.equal(r.firstBadIndex, 5, r.case);
    assert.ok(Math.abs(r.got - r.expected - 0.5) < 1e-6, formatFailure(r));
    assert.ok(r.maxAbs >= 0.5 - 1e-6);
  }
  const line = formatFailure(results.find((r) => r.case === 'matmul/q4_k/37x256/T3')!);
  console.log(line);
  assert.match(line, /^FAIL matmul\/q4_k\/37x256\/T3 \[matmul q4_k\]: max abs 5\.00e-1, max rel .*; first bad out\[5\]: expected -?[\d.e-]+, got -?[\d.e-]+$/);
  assert.equal(line.split('\n').length, 1);
});

test('a broken scan state update is caught in the state, and only where that op runs', () => {
  const broken = patched('broken-scan', {
    ssmScan: (a) => {
      refBackend.ssmScan(a);
      a.state[7] = a.state[7]! * 1.01;
    },
  });
  for (const r of runConformance(broken, refBackend, only('ssmScan', 'ssdChunkScan'))) {
    if (r.op === 'ssdChunkScan') {
      assert.ok(r.pass, `${r.case}: the oracle's ssmScan is not the broken one`);
      continue;
    }
    assert.equal(r.pass, false, r.case);
    assert.equal(r.output, 'state');
    assert.equal(r.firstBadIndex, 7);
    console.log(formatFailure(r));
  }
});

test('writes outside the output, modified inputs, wrong expert ids, NaN and throws are all failures', () => {
  const fresh = (prefix: string): ConformanceCase[] => conformanceCases().filter((c) => c.name.startsWith(prefix));
  const overrun = patched('overrun', {
    relu2(x, n) {
      refBackend.relu2(x, n);
      new Float32Array(x.buffer, x.byteOffset, n + 1)[n] = 1; // a copy-back of one element too many
    },
  });
  const [o] = runConformance(overrun, refBackend, fresh('relu2/n1001'));
  assert.deepEqual([o!.pass, o!.output, o!.firstBadIndex], [false, 'x guards', GUARD]);

  const scratch = patched('scratch', {
    matmul(out, x, T, w) {
      refBackend.matmul(out, x, T, w);
      x[0] = 0; // e.g. fake-quantizing the input in place
    },
  });
  const [s] = runConformance(scratch, refBackend, fresh('matmul/f32/37x45/T3/views'));
  assert.deepEqual([s!.pass, s!.output, s!.firstBadIndex], [false, 'x (read-only input)', 0]);

  const swapped = patched('swapped', {
    route(a) {
      refBackend.route(a);
      [a.ids[0], a.ids[1]] = [a.ids[1]!, a.ids[0]!];
    },
  });
  for (const r of runConformance(swapped, refBackend, only('route'))) assert.deepEqual([r.pass, r.output, r.firstBadIndex], [false, 'ids', 0]);

  const nan = patched('nan', {
    attention(a) {
      refBackend.attention(a);
      a.out[2] = NaN;
    },
  });
  for (const r of runConformance(nan, refBackend, only('attention'))) {
    assert.deepEqual([r.pass, r.output, r.firstBadIndex, r.maxAbs], [false, 'out', 2, Infinity]);
    assert.ok(Number.isNaN(r.got));
  }

  const throws = patched('throws', {
    conv1d() {
      throw new Error('not implemented');
    },
  });
  for (const r of runConformance(throws, refBackend, only('conv1d'))) {
    assert.equal(r.pass, false);
    assert.match(formatFailure(r), /throws threw: not implemented/);
  }
});

test('compareArrays: allclose rule, NaN and infinities must match in kind and sign', () => {
  const tol = { abs: 1e-3, rel: 1e-2 };
  assert.equal(compareArrays([1, 100], [1.0009, 100.9], tol).firstBad, -1);
  assert.equal(compareArrays([1, 100], [1.0009, 101.2], tol).firstBad, 1);
  assert.equal(compareArrays([NaN, Infinity, -0], [NaN, Infinity, 0], tol).firstBad, -1);
  const r = compareArrays([Infinity, 0], [-Infinity, 0], tol);
  assert.deepEqual([r.firstBad, r.maxAbs], [0, Infinity]);
  assert.equal(compareArrays([0], [NaN], tol).firstBad, 0);
});

test('run.js: a table and exit 0 on ref; exit 1 naming the failure for a registered broken backend; one-line error for an unknown one', async () => {
  const lines: string[] = [];
  assert.equal(await main(['--backend', 'ref'], (l) => lines.push(l)), 0);
  assert.match(lines.join('\n'), /^== backend ref vs ref: (\d+)\/\1 cases pass/);
  assert.match(lines.join('\n'), /case\s+max abs\s+max rel\s+tolerance\s+ok/);

  const unregister = registerBackend({ name: 'test-broken-relu2', create: () => patched('test-broken-relu2', { relu2: (x, n) => refBackend.relu2(x, n - 1) }) });
  const bad: string[] = [];
  try {
    assert.equal(await main(['--backend=test-broken-relu2', '--failures'], (l) => bad.push(l)), 1);
  } finally {
    unregister();
  }
  assert.match(bad.join('\n'), /FAIL relu2\/n1001 \[relu2 f32\]: .* first bad x\[1000\]/);

  await assert.rejects(main(['--backend', 'nope']), /unknown or unavailable backend "nope"; available here: ref/);
  await assert.rejects(main(['--frobnicate']), /unknown argument "--frobnicate"/);
});
