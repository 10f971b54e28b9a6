/**
 * GGUF Q8_0 / Q4_0 / Q4_K / MXFP4 models written by `tandem quantize` run in Tandem and in llama.cpp
 * (node-llama-cpp 3.21.1, child process): max |Δ log p| within the quantized tolerance, and the same argmax on
 * ≥ 99 % of the positions whose llama.cpp top-1/top-2 margin is larger than that tolerance (closer calls are ties that
 * a legitimate rounding difference may flip; the raw agreement is printed too). Tandem emulates ggml's activation
 * quantization (Q8_0 / Q8_K inputs), as llama.cpp's CPU kernels do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/engine/load-model.js';
import { sequenceLogprobs } from '../src/engine/logprobs.js';
import { writeQuantizedGguf } from '../src/engine/quantize-write.js';
import { goldenTokens } from '../src/testing/golden.js';
import { llamaAvailable, runLlamaOracle } from '../src/testing/llama-oracle.js';
import { makeTiny } from '../src/testing/tiny-model.js';
import { TOLERANCE, argmaxOf } from '../src/testing/tolerances.js';

const skip = llamaAvailable() ? false : 'node-llama-cpp is not installed (dev dependency)';
/** 256-wide so every matrix has whole 256-element K-quant blocks. */
const WIDE = { hidden_size: 256, intermediate_size: 512, mamba_num_heads: 8, mamba_head_dim: 32, num_attention_heads: 8, head_dim: 32, moe_intermediate_size: 256, moe_shared_expert_intermediate_size: 256 };
const tmp = mkdtempSync(join(tmpdir(), 'tandem-qoracle-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function margin(row: readonly number[]): number {
  const sorted = [...row].sort((a, b) => b - a);
  return sorted[0]! - sorted[1]!;
}

for (const [name, pattern] of [['dense', 'M*M-M-*M'], ['moe', 'ME*EME']] as const) {
  for (const format of ['q8_0', 'q4_0', 'q4_k', 'mxfp4'] as const) {
    test(`${name} ${format} GGUF: Tandem vs llama.cpp`, { skip }, async () => {
      const dir = join(tmp, name);
      const cfg = makeTiny(dir, { pattern, seed: 7, overrides: WIDE, headScale: 1 });
      const gguf = join(tmp, `${name}-${format}.gguf`);
      const report = writeQuantizedGguf(loadModel(dir), { format, out: gguf });
      assert.equal(report.fallbacks.length, 0, report.fallbacks.join('; '));
      const tokens = goldenTokens(cfg.vocabSize, 64);
      const theirs = (await runLlamaOracle({ model: gguf, tokens, vocabSize: cfg.vocabSize, batchSize: 16 })).logprobs;
      const ours = sequenceLogprobs(loadModel(gguf, { emulateActivations: true }).model, tokens);
      const tol = TOLERANCE.oracleQuantLogprob[format];
      let worst = 0;
      let same = 0;
      let decisive = 0;
      let decisiveSame = 0;
      ours.forEach((row, t) => {
        const ref = theirs[t]!;
        row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[i]!))));
        const agree = argmaxOf(row) === argmaxOf(ref);
        if (agree) same++;
        if (margin(ref) > tol) {
          decisive++;
          if (agree) decisiveSame++;
        }
      });
      console.log(`${name} ${format}: max |Δ logprob| ${worst.toExponential(2)} (tolerance ${tol}); same argmax ${same}/${tokens.length}, on decisive positions ${decisiveSame}/${decisive}`);
      assert.ok(worst <= tol, `max |Δ logprob| ${worst} exceeds ${tol}`);
      assert.ok(decisiveSame >= 0.99 * decisive, `argmax agreement ${decisiveSame}/${decisive} below 99 %`);
    });
  }
}
