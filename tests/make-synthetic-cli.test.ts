/**
 * `tandem make-synthetic` end to end: a shrunk nemotron-3-nano (hidden --override, a test-only flag) is written,
 * `tandem inspect` and `tandem run` read it; bad input — unknown shape or format, an --out that exists, is not a
 * .gguf, or lies in a directory that cannot be written, a bad --override — is one line `error[BAD_ARGUMENT]: …`,
 * exit 1, and leaves no file behind.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOk, assertUserError, cliAsync, scratch } from './cli-helpers.js';

const tmp = scratch('synth');
after(() => tmp.cleanup());

const SMALL = JSON.stringify({
  vocab_size: 512, hidden_size: 128, mamba_num_heads: 4, mamba_head_dim: 32, ssm_state_size: 16, n_groups: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, n_routed_experts: 8, num_experts_per_tok: 2,
  moe_intermediate_size: 64, moe_shared_expert_intermediate_size: 128,
});

test('make-synthetic writes a GGUF that inspect and run read', async () => {
  const out = join(tmp.dir('ok'), 'nano.gguf');
  const r = await cliAsync(['make-synthetic', '--shape', 'nemotron-3-nano', '--format', 'q8_0', '--layers', '6', '--seed', '2', '--override', SMALL, '--out', out]);
  assertOk(r);
  assert.match(r.stdout, /^nemotron-3-nano in q8_0: 6 layers MEM\*EM, hidden 128, vocab 512$/m);
  const params = /^([\d,]+) parameters, about /m.exec(r.stdout);
  assert.ok(params, r.stdout);
  const size = statSync(out).size;
  assert.match(r.stdout, new RegExp(`^wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${size} bytes`, 'm'));
  const [inspect, run] = await Promise.all([
    cliAsync(['inspect', out, '--json']),
    cliAsync(['run', '--model', out, '--prompt', 'Hello world', '--max-tokens', '3']),
  ]);
  assertOk(inspect);
  const report = JSON.parse(inspect.stdout) as { architecture: string; pattern: string; parameters: number; bytesByFormat: Record<string, number> };
  assert.equal(report.architecture, 'nemotron_h_moe');
  assert.equal(report.pattern, 'MEM*EM');
  assert.equal(report.parameters.toLocaleString('en-US'), params[1]);
  assert.ok((report.bytesByFormat.q8_0 ?? 0) > 0);
  assertOk(run);
  assert.match(run.stderr + run.stdout, /3 generated/);
});

test('make-synthetic bad input: one line, exit 1, nothing written', async () => {
  const dir = tmp.dir('bad');
  const existing = join(dir, 'exists.gguf');
  writeFileSync(existing, 'x');
  const aFile = join(dir, 'plain-file');
  writeFileSync(aFile, 'x');
  const base = (out: string, ...extra: string[]): string[] => ['make-synthetic', '--shape', 'hybrid-250m', '--format', 'q4_0', '--out', out, ...extra];
  const cases: Array<[string[], RegExp]> = [
    [['make-synthetic', '--shape', 'llama-7b', '--format', 'f32', '--out', join(dir, 'a.gguf')], /--shape "llama-7b" is not a synthetic shape; use one of hybrid-250m, nemotron-h-8b, nemotron-3-nano/],
    [['make-synthetic', '--shape', 'hybrid-250m', '--format', 'int3', '--out', join(dir, 'a.gguf')], /--format "int3" is not supported by make-synthetic; use one of f32, f16, q8_0, q4_0, nvfp4/],
    [base(existing), /--out .*exists\.gguf already exists; make-synthetic never overwrites/],
    [base(join(dir, 'model.bin')), /--out .*model\.bin must be a file name ending in \.gguf/],
    [base(join(aFile, 'sub', 'x.gguf')), /--out .*x\.gguf is not writable: cannot write into directory .*plain-file\/sub \((ENOTDIR|EEXIST): a file is in the way\); choose a writable location/],
    [base(join(dir, 'b.gguf'), '--override', '[1,2]'), /--override must be a JSON object of config\.json keys/],
    [base(join(dir, 'c.gguf'), '--pattern', 'MEM'), /has MoE \(E\) layers but shape hybrid-250m has no experts/],
  ];
  const rs = await Promise.all(cases.map(([args]) => cliAsync(args)));
  rs.forEach((r, i) => assertUserError(r, cases[i]![1], { code: 'BAD_ARGUMENT' }));
  assert.deepEqual(readdirSync(dir).sort(), ['exists.gguf', 'plain-file']);
  assert.ok(!existsSync(join(aFile, 'sub')));
});
