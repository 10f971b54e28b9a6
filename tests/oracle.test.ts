/**
 * Oracle tests (issue #2): Tandem's full-vocabulary logprobs against llama.cpp on the tiny dense and MoE fixtures,
 * from the HF directory and from the GGUF. Always against the committed golden logprobs (made by llama.cpp);
 * additionally live against node-llama-cpp 3.21.1 when it is installed (it is a dev dependency, so in CI).
 * Also: Tandem state saved and restored mid-sequence continues to the same logprobs. The golden comparisons run on
 * every backend (ref and wasm).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/engine/load-model.js';
import { sequenceLogprobs } from '../src/engine/logprobs.js';
import { forward, type Model } from '../src/model/nemotron-h.js';
import { createState } from '../src/model/state.js';
import { deserializeState, serializeState } from '../src/model/state-codec.js';
import { FIXTURES, goldenDir, goldenTokens, readGolden } from '../src/testing/golden.js';
import { makeTiny } from '../src/testing/tiny-model.js';
import { llamaAvailable, runLlamaOracle } from '../src/testing/llama-oracle.js';
import { TOLERANCE, argmaxOf, maxAbsDiff } from '../src/testing/tolerances.js';
import type { Backend } from '../src/numerics/backend.js';
import { refBackend } from '../src/numerics/ref/index.js';
import { closeAll, fastBackends } from '../src/testing/fast-backends.js';

/** Every backend the oracle runs on: the reference, and each fast backend (wasm, native where built) on 2 threads. */
const fast = await fastBackends();
after(() => closeAll(fast));
const BACKENDS: ReadonlyArray<readonly [string, Backend]> = [['ref', refBackend], ...fast];

function compare(label: string, ours: ArrayLike<number>[], theirs: ArrayLike<number>[], tol: number): void {
  assert.equal(ours.length, theirs.length, `${label}: row count`);
  let worst = 0;
  ours.forEach((row, t) => {
    const d = maxAbsDiff(row, theirs[t]!).maxAbs;
    worst = Math.max(worst, d);
    assert.equal(argmaxOf(row), argmaxOf(theirs[t]!), `${label}: argmax differs at position ${t}`);
  });
  console.log(`${label}: max |Δ logprob| = ${worst.toExponential(3)} over ${ours.length} positions (tolerance ${tol})`);
  assert.ok(worst <= tol, `${label}: max |Δ logprob| ${worst} exceeds ${tol}`);
}

/** Logprobs with the state serialized after `at` tokens and restored into a fresh object. */
function logprobsWithRestore(model: Model, tokens: readonly number[], at: number): Float64Array[] {
  const first = sequenceLogprobs(model, tokens.slice(0, at));
  const s = createState(model.config, model.fingerprint);
  forward(model, s, tokens.slice(0, at));
  const restored = deserializeState(model.config, model.fingerprint, serializeState(model.config, s));
  return [...first, ...sequenceLogprobs(model, tokens.slice(at), 256, restored)];
}

for (const fx of FIXTURES) {
  const golden = readGolden(fx.name);
  test(`${fx.name}: committed fixture equals what make-tiny generates today (else: ${'npm run golden'})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-fixture-'));
    try {
      makeTiny(dir, { pattern: fx.pattern, seed: fx.seed });
      for (const f of ['model.safetensors', 'model.gguf', 'config.json', 'tokenizer.json', 'tokenizer_config.json']) {
        assert.ok(readFileSync(join(dir, f)).equals(readFileSync(join(goldenDir(), fx.name, f))), `${f} differs from tests/golden/${fx.name}: regenerate with \`npm run golden\``);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  for (const format of ['hf', 'gguf'] as const) {
    const path = format === 'hf' ? join(goldenDir(), fx.name) : join(goldenDir(), fx.name, 'model.gguf');
    for (const [bn, backend] of BACKENDS) {
      test(`${fx.name}/${format} on ${bn}: logprobs match the llama.cpp golden file`, () => {
        const { model } = loadModel(path, { backend });
        compare(`${fx.name}/${format}/${bn} vs golden`, sequenceLogprobs(model, golden.tokens), golden.logprobs, TOLERANCE.goldenLogprob);
      });
      test(`${fx.name}/${format} on ${bn}: state saved and restored mid-sequence continues to the same logprobs`, () => {
        const { model } = loadModel(path, { backend });
        compare(`${fx.name}/${format}/${bn} restore@${golden.restoreAt} vs golden`, logprobsWithRestore(model, golden.tokens, golden.restoreAt), golden.logprobs, TOLERANCE.goldenLogprob);
      });
    }
  }

  test(`${fx.name}: live llama.cpp oracle (node-llama-cpp 3.21.1), with its own state save/restore`, { skip: llamaAvailable() ? false : 'node-llama-cpp is not installed (dev dependency)' }, async () => {
    const gguf = join(goldenDir(), fx.name, 'model.gguf');
    const { model } = loadModel(gguf);
    const dir = mkdtempSync(join(tmpdir(), 'tandem-oracle-'));
    try {
      const live = await runLlamaOracle({ model: gguf, tokens: golden.tokens, vocabSize: model.config.vocabSize, batchSize: 16, restoreAt: 9, stateFile: join(dir, 's') });
      compare(`${fx.name}/gguf vs live llama.cpp`, sequenceLogprobs(model, golden.tokens), live.logprobs, TOLERANCE.oracleF32Logprob);
      const { model: hf } = loadModel(join(goldenDir(), fx.name));
      compare(`${fx.name}/hf (restore@13) vs live llama.cpp`, logprobsWithRestore(hf, golden.tokens, 13), live.logprobs, TOLERANCE.oracleF32Logprob);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('LatentMoE (Nemotron 3 Super style, ℓ = 32): live llama.cpp oracle from the HF directory and the GGUF', { skip: llamaAvailable() ? false : 'node-llama-cpp is not installed (dev dependency)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-latent-'));
  try {
    const cfg = makeTiny(dir, { pattern: 'ME*EME', seed: 5, latentSize: 32 });
    assert.equal(cfg.moe?.hasLatent, true);
    const tokens = goldenTokens(cfg.vocabSize, 30);
    const live = await runLlamaOracle({ model: join(dir, 'model.gguf'), tokens, vocabSize: cfg.vocabSize, batchSize: 16 });
    for (const path of [dir, join(dir, 'model.gguf')]) {
      compare(`latent ${path.endsWith('.gguf') ? 'gguf' : 'hf'} vs live llama.cpp`, sequenceLogprobs(loadModel(path).model, tokens), live.logprobs, TOLERANCE.oracleF32Logprob);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
