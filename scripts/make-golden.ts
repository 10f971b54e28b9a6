/**
 * Regenerate tests/golden: the tiny fixtures (HF directory + model.gguf) and their llama.cpp logprobs.
 * Run with `npm run golden` (needs the node-llama-cpp dev dependency).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTiny } from '../src/testing/tiny-model.js';
import { FIXTURES, GOLDEN_FORMAT, GOLDEN_VERSION, REGENERATE, goldenDir, goldenTokens, type GoldenFile } from '../src/testing/golden.js';
import { runLlamaOracle } from '../src/testing/llama-oracle.js';

const round = (v: number): number => Number(v.toPrecision(9));

for (const fx of FIXTURES) {
  const dir = join(goldenDir(), fx.name);
  rmSync(dir, { recursive: true, force: true });
  const cfg = makeTiny(dir, { pattern: fx.pattern, seed: fx.seed });
  const tokens = goldenTokens(cfg.vocabSize);
  const restoreAt = 23;
  const stateFile = join(tmpdir(), `tandem-golden-${process.pid}.state`);
  const res = await runLlamaOracle({ model: join(dir, 'model.gguf'), tokens, vocabSize: cfg.vocabSize, batchSize: 16, restoreAt, stateFile });
  rmSync(stateFile, { force: true });
  const golden: GoldenFile = {
    format: GOLDEN_FORMAT, version: GOLDEN_VERSION, generator: 'node-llama-cpp 3.21.1 (llama.cpp v0.4.0), F32 weights, F32 KV, flash attention off, batch 16, 1 thread',
    regenerate: REGENERATE, fixture: fx.name, tokens, restoreAt, logprobs: res.logprobs.map((r) => r.map(round)),
  };
  writeFileSync(join(goldenDir(), `${fx.name}.golden.json`), JSON.stringify(golden) + '\n');
  console.log(`${fx.name}: ${fx.pattern}, ${tokens.length} tokens, vocab ${cfg.vocabSize}`);
}
