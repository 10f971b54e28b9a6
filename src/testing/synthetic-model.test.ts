/**
 * Synthetic benchmark models (issue 6 part 2): the shape table reproduces the real models' parameter counts
 * (specs/nemotron-h.md §1: 8B → 8.10 B, Nemotron-3-Nano → 31.58 B with their full patterns); every shape, shrunk to
 * test widths, writes a GGUF in every format that loads with `loadModel` and runs a forward pass with finite logits;
 * files are deterministic in the seed and independent of the chunk size; llama.cpp (when installed) computes the
 * same log-probabilities from the F32 files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import { loadModel } from '../engine/load-model.js';
import { sequenceLogprobs } from '../engine/logprobs.js';
import { ggufNumber, ggufArray, readGgufFile } from '../formats/gguf.js';
import { forward, newState } from '../model/nemotron-h.js';
import { goldenTokens } from './golden.js';
import { llamaAvailable, runLlamaOracle } from './llama-oracle.js';
import { planSynthetic, writeSynthetic, type SyntheticModel } from './synthetic-model.js';
import { SYNTHETIC_FORMATS, SYNTHETIC_SHAPES, type SyntheticOptions } from './synthetic-shapes.js';
import { TOLERANCE, maxAbsDiff } from './tolerances.js';

const tmp = mkdtempSync(join(tmpdir(), 'tandem-synthetic-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Test widths: every row a whole number of 64-element NVFP4 blocks, heads per group 2, GQA 2:1. */
const SMALL: Readonly<Record<string, unknown>> = {
  vocab_size: 512, hidden_size: 128, mamba_num_heads: 4, mamba_head_dim: 32, ssm_state_size: 16, n_groups: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, intermediate_size: 256,
};
const SMALL_MOE = { ...SMALL, n_routed_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 64, moe_shared_expert_intermediate_size: 128 };
const small = (shape: string, layers = 4): SyntheticOptions => ({ layers, overrides: shape === 'nemotron-3-nano' ? SMALL_MOE : SMALL });

const PATTERN_8B = 'M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-';
const PATTERN_NANO = 'MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME';

test('full-size shapes: parameter counts match the real models; sizes per format', () => {
  const b = (m: SyntheticModel): number => m.plan.params / 1e9;
  const h8 = planSynthetic('nemotron-h-8b', 'f32', 0, { pattern: PATTERN_8B });
  const nano = planSynthetic('nemotron-3-nano', 'f32', 0, { pattern: PATTERN_NANO });
  console.log(`full 8B pattern: ${b(h8).toFixed(3)} B params; full Nano pattern: ${b(nano).toFixed(3)} B params`);
  assert.ok(Math.abs(b(h8) - 8.10) < 0.005, `8B: ${b(h8)}`);
  assert.ok(Math.abs(b(nano) - 31.58) < 0.005, `Nano: ${b(nano)}`);
  for (const shape of SYNTHETIC_SHAPES) {
    const sizes = SYNTHETIC_FORMATS.map((f) => {
      const m = planSynthetic(shape.name, f);
      assert.deepEqual(m.plan.fallbacks, [], `${shape.name} ${f}: every matrix takes the format`);
      return `${f} ${(m.plan.dataBytes / 2 ** 20).toFixed(0)} MiB`;
    });
    const params = planSynthetic(shape.name, 'f32').plan.params;
    console.log(`${shape.name} (${shape.pattern}): ${params.toLocaleString('en-US')} params; ${sizes.join(', ')}`);
    if (shape.name === 'hybrid-250m') assert.ok(params > 240e6 && params < 260e6, `hybrid-250m has ${params} params`);
  }
});

for (const shape of SYNTHETIC_SHAPES) {
  test(`${shape.name}: every format writes a GGUF that loads and runs`, () => {
    for (const format of SYNTHETIC_FORMATS) {
      const m = planSynthetic(shape.name, format, 3, small(shape.name));
      const path = join(tmp, `${shape.name}-${format}.gguf`);
      const bytes = writeSynthetic(path, m);
      const f = readGgufFile(path);
      assert.equal(bytes, readFileSync(path).length);
      assert.equal(ggufNumber(f, 'general.file_type'), { f32: 0, f16: 1, q8_0: 7, q4_0: 2, nvfp4: 39 }[format]);
      const tokens = ggufArray(f, 'tokenizer.ggml.tokens');
      assert.equal(tokens.length, 512, 'tokenizer padded to the embedding rows');
      assert.equal(tokens[511], '[PAD511]');
      assert.equal(ggufArray(f, 'tokenizer.ggml.token_type')[511], 5);
      const want = format === 'nvfp4' ? 'ggml_nvfp4' : format;
      for (const t of f.tensors.values()) {
        const matrix = t.shape.length >= 2 && !/(ssm_conv1d|ssm_norm|ssm_a|ssm_d|ffn_gate_inp)/.test(t.name);
        assert.equal(t.dtype, matrix ? want : 'f32', `${format}: ${t.name}`);
      }
      const loaded = loadModel(path);
      assert.equal(loaded.model.config.layers.length, 4);
      const ids = loaded.tokenizer().encode('Hello world, the hybrid model');
      assert.ok(ids.length > 2 && ids.every((id) => id < 461), 'the padding never appears in encoded text');
      const logits = forward(loaded.model, newState(loaded.model), ids);
      const maxAbs = logits.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      console.log(`${shape.name} ${format}: ${m.plan.params} params, ${bytes} bytes, max |logit| ${maxAbs.toFixed(3)}`);
      assert.ok(Number.isFinite(maxAbs) && maxAbs > 0.1 && maxAbs < 100, `logits are finite and O(1..10): ${maxAbs}`);
    }
  });
}

test('the file depends on the seed only, not on the chunk size', () => {
  const write = (name: string, seed: number, chunkElements: number): Buffer => {
    const path = join(tmp, name);
    writeSynthetic(path, planSynthetic('nemotron-3-nano', 'q4_0', seed, small('nemotron-3-nano', 3)), { chunkElements });
    return readFileSync(path);
  };
  const a = write('a.gguf', 5, 1 << 22);
  assert.ok(a.equals(write('b.gguf', 5, 100)), 'same seed, other chunking: identical bytes');
  assert.ok(!a.equals(write('c.gguf', 6, 1 << 22)), 'another seed: other bytes');
});

test('bad shapes, formats, patterns and vocabularies are one-line BAD_ARGUMENT errors', () => {
  const bad = (fn: () => unknown, re: RegExp): void => {
    assert.throws(fn, (e: unknown) => e instanceof TandemError && e.code === 'BAD_ARGUMENT' && re.test(e.message) && !e.message.includes('\n'));
  };
  bad(() => planSynthetic('llama-7b', 'f32'), /--shape "llama-7b" is not a synthetic shape; use one of hybrid-250m, nemotron-h-8b, nemotron-3-nano/);
  bad(() => planSynthetic('hybrid-250m', 'q5_k'), /--format "q5_k" .*use one of f32, f16, q8_0, q4_0, nvfp4/);
  bad(() => planSynthetic('hybrid-250m', 'f32', 0, { pattern: 'ME' }), /has MoE \(E\) layers but shape hybrid-250m has no experts/);
  bad(() => planSynthetic('nemotron-3-nano', 'f32', 0, { pattern: 'ME-' }), /mixes dense MLP/);
  bad(() => planSynthetic('hybrid-250m', 'f32', 0, { pattern: 'MX' }), /may only contain M, \*, - and E/);
  const tinyVocab = planSynthetic('hybrid-250m', 'f32', 0, { ...small('hybrid-250m'), overrides: { ...SMALL, vocab_size: 300 } });
  bad(() => writeSynthetic(join(tmp, 'v.gguf'), tinyVocab), /vocab_size 300 is smaller than the synthetic tokenizer's 461 tokens/);
});

const skip = llamaAvailable() ? false : 'node-llama-cpp is not installed (dev dependency)';

SYNTHETIC_SHAPES.forEach((shape, i) => {
  test(`${shape.name} F32 (test widths): llama.cpp computes the same log-probabilities`, { skip }, async () => {
    const opts = { ...small(shape.name), layers: undefined, pattern: shape.name === 'nemotron-3-nano' ? 'ME*EM' : 'M-*M-' };
    const path = join(tmp, `${shape.name}-oracle.gguf`);
    writeSynthetic(path, planSynthetic(shape.name, 'f32', 11 + i, opts));
    const tokens = goldenTokens(512, 24);
    const theirs = (await runLlamaOracle({ model: path, tokens, vocabSize: 512, batchSize: 8 })).logprobs;
    const ours = sequenceLogprobs(loadModel(path).model, tokens);
    const worst = ours.reduce((w, row, t) => Math.max(w, maxAbsDiff(row, theirs[t]!).maxAbs), 0);
    console.log(`${shape.name} F32 vs llama.cpp: max |Δ logprob| ${worst.toExponential(2)} (tolerance ${TOLERANCE.oracleF32Logprob})`);
    assert.ok(worst <= TOLERANCE.oracleF32Logprob, `max |Δ logprob| ${worst}`);
  });
});
