/**
 * End-to-end tests of the `tandem` CLI as a user runs it: make-tiny, run (HF directory and GGUF, greedy and seeded
 * sampling, chat, stop strings, the default model), logprobs and inspect. Every case spawns the built CLI.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TINY_FILES } from '../src/testing/tiny-model.js';
import { assertOk, cli, cliAsync, logSumExp, scratch, type CliResult } from './cli-helpers.js';

const tmp = scratch('cli');
let dense = '';
let moe = '';

before(async () => {
  dense = join(tmp.dir('dense'), 'm');
  moe = join(tmp.dir('moe'), 'm');
  const made = await Promise.all([cliAsync(['make-tiny', '--out', dense]), cliAsync(['make-tiny', '--out', moe, '--moe'])]);
  made.forEach(assertOk);
});
after(() => tmp.cleanup());

const gguf = (dir: string): string => join(dir, 'model.gguf');
const STATS = /prefill \d+ tok \S+ tok\/s · decode \d+ tok \S+ tok\/s/;
const bytes = (dir: string, file: string): Buffer => readFileSync(join(dir, file));

/** Asserts a successful `run`: exit 0, text on stdout, the speed line on stderr; returns the generated text. */
function generated(r: CliResult): string {
  assertOk(r);
  assert.match(r.stderr, STATS);
  assert.ok(r.stdout.endsWith('\n'), 'run ends its output with a newline');
  return r.stdout.slice(0, -1);
}

const run = (model: string, ...extra: string[]): Promise<CliResult> =>
  cliAsync(['run', '--model', model, '--prompt', 'hello world', '--max-tokens', '16', ...extra]);

test('make-tiny writes every file, dense and MoE', () => {
  for (const dir of [dense, moe]) for (const f of TINY_FILES) assert.ok(existsSync(join(dir, f)), `${dir}/${f}`);
});

test('make-tiny is deterministic: same seed → same bytes, another seed → other bytes', async () => {
  for (const kind of [[], ['--moe']]) {
    const [a, b, c] = [join(tmp.dir('seed'), 'a'), join(tmp.dir('seed'), 'b'), join(tmp.dir('seed'), 'c')];
    const rs = await Promise.all([
      cliAsync(['make-tiny', '--out', a, '--seed', '3', ...kind]),
      cliAsync(['make-tiny', '--out', b, '--seed', '3', ...kind]),
      cliAsync(['make-tiny', '--out', c, '--seed', '4', ...kind]),
    ]);
    rs.forEach(assertOk);
    for (const f of ['model.safetensors', 'model.gguf']) {
      assert.ok(bytes(a, f).equals(bytes(b, f)), `${f} ${kind.join('')}: same seed, different bytes`);
      assert.ok(!bytes(a, f).equals(bytes(c, f)), `${f} ${kind.join('')}: different seeds, same bytes`);
    }
  }
});

test('run: greedy output is identical for the HF directory, the GGUF, and a second run', async () => {
  for (const dir of [dense, moe]) {
    const [hf, gg, again] = await Promise.all([run(dir), run(gguf(dir)), run(dir, '--temperature', '0')]);
    const text = generated(hf!);
    assert.ok(text.length > 0, 'run printed text');
    assert.equal(generated(gg!), text, 'HF and GGUF greedy outputs differ');
    assert.equal(generated(again!), text, 'two greedy runs differ');
  }
});

test('run: seeded sampling repeats for the same seed', async () => {
  const sample = (seed: string): Promise<CliResult> => run(dense, '--temperature', '0.8', '--seed', seed, '--max-tokens', '24');
  const [a, b, c] = await Promise.all([sample('5'), sample('5'), sample('6')]);
  assert.equal(generated(a!), generated(b!), 'same seed, different text');
  generated(c!); // a different seed is allowed (not required) to differ
});

test('run --chat works on the HF directory and the GGUF', async () => {
  const [hf, gg] = await Promise.all([run(dense, '--chat', '--system', 'be brief'), run(gguf(dense), '--chat')]);
  generated(hf!);
  generated(gg!);
});

test('run --stop ends the output before the first occurrence of the stop string', async () => {
  const full = generated(await run(dense, '--max-tokens', '32'));
  const stop = /[a-z]{2}/i.exec(full.slice(1))?.[0]; // two letters after the first character: a stop that cuts text
  assert.ok(stop !== undefined, `no two-letter stop candidate in ${JSON.stringify(full)}`);
  const r = await run(dense, '--max-tokens', '32', '--stop', stop);
  assert.equal(generated(r), full.slice(0, full.indexOf(stop)));
  assert.match(r.stderr, /finish: stop/);
});

test('run --max-tokens 0 generates nothing and succeeds', async () => {
  const r = await run(dense, '--max-tokens', '0');
  assert.equal(generated(r), '');
  assert.match(r.stderr, /0 generated/);
});

test('run without --model builds the default model once into TANDEM_CACHE and reuses it', () => {
  const cache = tmp.dir('cache');
  const args = ['run', '--prompt', 'hi', '--max-tokens', '8'];
  const first = cli(args, { cache });
  const text = generated(first);
  assert.match(first.stderr, /generating the default tiny model/);
  assert.ok(existsSync(join(cache, 'tiny-default-v1', 'model.gguf')));
  const second = cli(args, { cache });
  assert.equal(generated(second), text);
  assert.doesNotMatch(second.stderr, /generating/);
});

test('logprobs: full-vocabulary log-softmax rows, identical for HF and GGUF', async () => {
  const out = tmp.dir('lp');
  const [hfFile, ggFile] = [join(out, 'hf.json'), join(out, 'gguf.json')];
  const tokens = ['--tokens', '1 5 9 200'];
  const rs = await Promise.all([
    cliAsync(['logprobs', '--model', dense, ...tokens, '--out', hfFile]),
    cliAsync(['logprobs', '--model', gguf(dense), ...tokens, '--out', ggFile]),
  ]);
  rs.forEach(assertOk);
  const vocab = (JSON.parse(readFileSync(join(dense, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
  const [hf, gg] = [hfFile, ggFile].map((f) => JSON.parse(readFileSync(f, 'utf8')) as { tokens: number[]; logprobs: number[][] });
  for (const j of [hf!, gg!]) {
    assert.deepEqual(Object.keys(j).sort(), ['logprobs', 'tokens']);
    assert.deepEqual(j.tokens, [1, 5, 9, 200]);
    assert.equal(j.logprobs.length, 4);
    for (const row of j.logprobs) {
      assert.equal(row.length, vocab);
      assert.ok(Math.abs(logSumExp(row)) < 1e-6, `logsumexp ${logSumExp(row)}`);
    }
  }
  let worst = 0;
  hf!.logprobs.forEach((row, i) => row.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - gg!.logprobs[i]![k]!)))));
  assert.ok(worst < 1e-5, `HF vs GGUF logprobs differ by ${worst}`);
});

test('inspect: text report for HF and GGUF, and --json with equal parameter counts', async () => {
  for (const dir of [dense, moe]) {
    const rs = await Promise.all([dir, gguf(dir)].flatMap((p) => [cliAsync(['inspect', p]), cliAsync(['inspect', p, '--json'])]));
    rs.forEach(assertOk);
    for (const text of [rs[0]!.stdout, rs[2]!.stdout]) {
      for (const label of ['architecture', 'schedule', 'parameters', 'state ', 'state/sequence']) {
        assert.match(text, new RegExp(`^${label}`, 'm'), `inspect lacks "${label}":\n${text}`);
      }
    }
    const [hf, gg] = [rs[1]!, rs[3]!].map((r) => JSON.parse(r.stdout) as { format: string; architecture: string; parameters: number });
    assert.equal(hf!.format, 'hf');
    assert.equal(gg!.format, 'gguf');
    assert.equal(hf!.architecture, dir === moe ? 'nemotron_h_moe' : 'nemotron_h');
    assert.ok(hf!.parameters > 0);
    assert.equal(gg!.parameters, hf!.parameters);
  }
});
