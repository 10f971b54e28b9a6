/** End-to-end `tandem eval-quant`: the committed dense fixture (f32) against a bf16 make-tiny copy of it. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FIXTURES, goldenDir, repoRoot } from '../src/testing/golden.js';
import type { EvalQuantReport } from '../src/engine/eval-quant.js';
import { assertOk, assertUserError, cliAsync, scratch } from './cli-helpers.js';

const tmp = scratch('evalq');
const reference = join(goldenDir(), 'dense');
const text = join(repoRoot(), 'tests', 'data', 'eval.txt');
let candidate = '';

before(async () => {
  const fx = FIXTURES.find((f) => f.name === 'dense')!;
  candidate = join(tmp.dir('bf16'), 'm');
  assertOk(await cliAsync(['make-tiny', '--out', candidate, '--pattern', fx.pattern, '--seed', String(fx.seed), '--dtype', 'bf16']));
});
after(() => tmp.cleanup());

const evalq = (...extra: string[]) => cliAsync(['eval-quant', '--reference', reference, '--candidate', candidate, '--text', text, ...extra]);

test('eval-quant --json: one object with reference, candidate and metrics', async () => {
  const r = await evalq('--json', '--ctx', '64', '--max-tokens', '512', '--kv-cache', 'fp8', '--ssm-state', 'bf16');
  assertOk(r);
  const j = JSON.parse(r.stdout) as EvalQuantReport;
  assert.deepEqual(Object.keys(j), ['reference', 'candidate', 'metrics']);
  assert.equal(j.metrics.positions, 8 * 31);
  assert.ok(j.metrics.kl.mean > 0 && j.metrics.kl.mean < 0.05);
  assert.ok(j.metrics.sameTop.rate > 0.8);
  assert.deepEqual(j.candidate.stateFormat, { kv: 'fp8', ssm: 'bf16' });
  assert.ok(j.candidate.stateBytes['8k'] < j.reference.stateBytes['8k']);
  assert.ok(j.candidate.weightBytes < j.reference.weightBytes);
});

test('eval-quant prints a table by default', async () => {
  const r = await evalq();
  assertOk(r);
  for (const label of ['bits/weight', 'state @ 1M', 'KL divergence', 'same top', 'PPL', 'Δp']) assert.match(r.stdout, new RegExp(label));
  assert.match(r.stdout, /7 chunks × 256 tokens/);
});

test('eval-quant user errors are one line', async () => {
  const [short, missing, flag] = await Promise.all([
    evalq('--ctx', '2048'),
    cliAsync(['eval-quant', '--reference', reference, '--candidate', candidate, '--text', join(tmp.dir('none'), 'none.txt')]),
    evalq('--kv-cache', 'fp4'),
  ]);
  assertUserError(short, /at least 2048/, { code: 'BAD_INPUT' });
  assertUserError(missing, /--text/, { code: 'NOT_FOUND' });
  assertUserError(flag, /--kv-cache/, { commander: true });
});
