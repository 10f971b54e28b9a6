/**
 * `tandem bench [model]` end to end, with small counts: the JSON report on the embedded default model has every key
 * and positive figures; the text report has a row per engine; `--vs llama` runs llama.cpp on a GGUF (when
 * node-llama-cpp is installed) and rejects an HF directory; bad flags are one line. No timing assertions.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BENCH_MODEL_KEYS, type ModelBenchReport } from '../src/bench/model-bench.js';
import { llamaAvailable } from '../src/bench/llama-runner.js';
import { listBackends } from '../src/numerics/select.js';
import { goldenDir } from '../src/testing/golden.js';
import { makeTiny } from '../src/testing/tiny-model.js';
import { assertOk, assertUserError, cliAsync, scratch } from './cli-helpers.js';

const tmp = scratch('bench');
after(() => tmp.cleanup());
const cache = tmp.dir('cache');

const SMALL = ['--prompt-tokens', '12', '--decode-tokens', '3', '--reps', '2', '--bandwidth-mib', '16'];

function assertEngine(name: string, e: ModelBenchReport['tandem'], runs: number): void {
  for (const k of ['prefill', 'decode', 'prefillMedian', 'decodeMedian', 'decodeRooflineRatio'] as const) {
    assert.ok(typeof e[k] === 'number' && e[k]! > 0 && Number.isFinite(e[k]), `${name}.${k} = ${e[k]}`);
  }
  assert.equal(e.runs.length, runs, `${name}.runs`);
  assert.ok(e.runs.every((r) => r.prefillMs > 0 && r.decodeMs > 0));
}

test('tandem bench --json on the default tiny model: every key, positive figures, progress on stderr only', async () => {
  const r = await cliAsync(['bench', ...SMALL, '--json'], { cache });
  assertOk(r);
  const rep = JSON.parse(r.stdout) as ModelBenchReport;
  assert.deepEqual(Object.keys(rep).sort(), [...BENCH_MODEL_KEYS].sort());
  assert.match(rep.model.path, /tiny-default-v1[/\\]model\.gguf$/);
  assert.equal(rep.model.format, 'gguf');
  assert.ok(['native', 'wasm', 'ref'].includes(rep.backend), `backend ${rep.backend}`); // auto: native where built, else wasm
  assert.equal(rep.threads, 1);
  assert.deepEqual([rep.promptTokens, rep.decodeTokens, rep.reps], [12, 3, 2]);
  assert.ok(rep.model.params > 0 && rep.model.weightBytes > 0);
  assert.ok(rep.model.decodeBytesPerToken > 0 && rep.model.decodeBytesPerToken <= rep.model.weightBytes);
  assert.equal(rep.bandwidth?.bufferBytes, 16 * 2 ** 20);
  assert.ok(rep.bandwidth!.readGBs > 0 && rep.roofline!.decode > 0);
  assert.equal(rep.roofline!.bytesPerToken, rep.model.decodeBytesPerToken);
  assertEngine('tandem', rep.tandem, 2);
  assert.equal(rep.llama, null);
  assert.equal(rep.ratio, null);
  assert.match(r.stderr, /measuring memory read bandwidth/);
  assert.match(r.stderr, /run 2\/2 tandem/);
});

const wasmHere = listBackends().find((b) => b.name === 'wasm')?.available() ?? false;
const nativeHere = listBackends().find((b) => b.name === 'native')?.available() ?? false;

test('tandem bench --backend wasm --threads 2: the backend, the probe and the report use 2 threads', { skip: wasmHere ? false : 'the wasm backend does not load here' }, async () => {
  const r = await cliAsync(['bench', join(goldenDir(), 'dense', 'model.gguf'), ...SMALL, '--reps', '1', '--backend', 'wasm', '--threads', '2', '--json'], { cache });
  assertOk(r);
  const rep = JSON.parse(r.stdout) as ModelBenchReport;
  assert.equal(rep.backend, 'wasm');
  assert.equal(rep.threads, 2);
  assert.equal(rep.bandwidth!.threads, 2);
  assertEngine('tandem', rep.tandem, 1);
});

test('tandem bench text report; --bandwidth-mib 0 skips the probe and the roofline', async () => {
  const r = await cliAsync(['bench', join(goldenDir(), 'dense'), ...SMALL, '--bandwidth-mib', '0'], { cache });
  assertOk(r);
  assert.match(r.stdout, /^model {6}.*dense \(hf, /m);
  assert.match(r.stdout, /^bandwidth  not measured/m);
  assert.match(r.stdout, /^tandem +\d/m);
  assert.doesNotMatch(r.stdout, /^llama\.cpp +\d/m);
});

test('tandem bench --vs llama on a GGUF: both engines, alternating, and the ratio', { skip: llamaAvailable() ? false : 'node-llama-cpp is not installed (dev dependency)' }, async () => {
  const r = await cliAsync(['bench', join(goldenDir(), 'dense', 'model.gguf'), ...SMALL, '--vs', 'llama', '--json'], { cache });
  assertOk(r);
  const rep = JSON.parse(r.stdout) as ModelBenchReport;
  assertEngine('tandem', rep.tandem, 2);
  assertEngine('llama', rep.llama!, 2);
  assert.equal(rep.llama!.version, '3.21.1');
  assert.equal(rep.llama!.threads, 1);
  assert.ok(rep.ratio!.prefill > 0 && rep.ratio!.decode > 0);
  assert.ok(Math.abs(rep.ratio!.decode - rep.tandem.decode / rep.llama!.decode) < 1e-12);
  const order = [...r.stderr.matchAll(/^run \d+\/4 (tandem|llama\.cpp)/gm)].map((m) => m[1]);
  assert.deepEqual(order, ['tandem', 'llama.cpp', 'llama.cpp', 'tandem']);
});

test('--vs llama on a model llama.cpp aborts on (no attention layer): one UNSUPPORTED line, no hang', { skip: llamaAvailable() ? false : 'node-llama-cpp is not installed (dev dependency)' }, async () => {
  const dir = tmp.dir('mamba-only');
  makeTiny(dir, { pattern: 'MM-', seed: 0 });
  const r = await cliAsync(['bench', join(dir, 'model.gguf'), ...SMALL, '--bandwidth-mib', '0', '--vs', 'llama'], { cache });
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error'));
  assert.equal(errors.length, 1, r.stderr);
  assertUserError({ ...r, stderr: errors[0]! }, /llama\.cpp \(node-llama-cpp 3\.21\.1\) could not run .*model\.gguf: /, { code: 'UNSUPPORTED' });
  assert.equal(r.stdout, '');
});

test('bad bench arguments are one line each', async () => {
  const dense = join(goldenDir(), 'dense');
  const cases: Array<[string[], RegExp, { code?: string; commander?: boolean }]> = [
    [[dense, '--vs', 'llama'], /--vs llama needs a \.gguf file .*got the directory/, { code: 'BAD_ARGUMENT' }],
    [[dense, '--threads', '0'], /--threads must be an integer ≥ 1/, { code: 'BAD_ARGUMENT' }],
    [[dense, '--backend', 'ref', '--threads', '2'], /--threads 2: backend ref runs on 1 thread/, { code: 'BAD_ARGUMENT' }],
    ...(nativeHere ? [] : [[[dense, '--backend', 'native'], /no native backend/, { code: 'UNSUPPORTED' }] as [string[], RegExp, { code?: string }]]),
    [[dense, '--backend', 'gpu'], /--backend <name>.*Allowed choices are/, { commander: true }],
    [[dense, '--bandwidth-mib', '5000'], /--bandwidth-mib must be at most 4095/, { code: 'BAD_ARGUMENT' }],
    [[dense, '--prompt-tokens', '4000', '--bandwidth-mib', '0'], /exceeds the model's context of \d+ tokens/, { code: 'BAD_ARGUMENT' }],
    [[dense, '--vs', 'vllm'], /--vs <engine>.*Allowed choices are llama/, { commander: true }],
    [[join(dense, 'nope.gguf')], /model path .*nope\.gguf does not exist/, { code: 'NOT_FOUND' }],
  ];
  const rs = await Promise.all(cases.map(([args]) => cliAsync(['bench', ...args], { cache })));
  rs.forEach((r, i) => assertUserError(r, cases[i]![1], cases[i]![2]));
});
