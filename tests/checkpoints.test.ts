/**
 * Checkpoint variants run end to end: sharded safetensors, BF16/F16 storage (HF and GGUF agree), and GGUF Q8_0/Q4_0
 * block weights computing exactly like F32 weights holding the same dequantized values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/engine/load-model.js';
import { sequenceLogprobs } from '../src/engine/logprobs.js';
import { readGgufFile, writeGguf, type GgufTensorToWrite } from '../src/formats/gguf.js';
import { loadSafetensorsDir, writeShardedSafetensors } from '../src/formats/safetensors.js';
import { fromFloat32, toFloat32 } from '../src/numerics/dtypes/index.js';
import type { DType } from '../src/numerics/tensor.js';
import { goldenDir, goldenTokens } from '../src/testing/golden.js';
import { makeTiny } from '../src/testing/tiny-model.js';
import { TOLERANCE, maxAbsDiff } from '../src/testing/tolerances.js';

const tmp = mkdtempSync(join(tmpdir(), 'tandem-ckpt-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function worst(a: Float64Array[], b: Float64Array[]): number {
  return Math.max(...a.map((r, i) => maxAbsDiff(r, b[i]!).maxAbs));
}

test('sharded safetensors (model.safetensors.index.json) loads to the same model as one file', () => {
  const src = join(goldenDir(), 'dense');
  const dir = join(tmp, 'sharded');
  const tensors = [...loadSafetensorsDir(src).values()];
  writeShardedSafetensors(dir, tensors, 400_000);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) copyFileSync(join(src, f), join(dir, f));
  const a = loadModel(src).model;
  const b = loadModel(dir).model;
  assert.equal(b.fingerprint, a.fingerprint);
  const toks = goldenTokens(a.config.vocabSize, 12);
  assert.equal(worst(sequenceLogprobs(a, toks), sequenceLogprobs(b, toks)), 0);
});

for (const dtype of ['bf16', 'f16'] as const) {
  test(`make-tiny --dtype ${dtype}: HF directory and GGUF give identical logprobs`, () => {
    const dir = join(tmp, dtype);
    makeTiny(dir, { pattern: 'M*-M', seed: 3, dtype });
    const hf = loadModel(dir).model;
    const gg = loadModel(join(dir, 'model.gguf'), { emulateActivations: false }).model; // weight-only, like the HF forward
    const first = hf.weights.layers[0]!;
    assert.equal(first.kind === 'mamba2' ? first.inProj.dtype : undefined, dtype);
    const toks = goldenTokens(hf.config.vocabSize, 12);
    assert.equal(worst(sequenceLogprobs(hf, toks), sequenceLogprobs(gg, toks)), 0);
  });
}

/** Rewrite a GGUF with every 2-D weight re-encoded by `encode` (returns the tensors written). */
function reencode(srcPath: string, dst: string, encode: (t: GgufTensorToWrite) => GgufTensorToWrite): void {
  const f = readGgufFile(srcPath);
  const tensors = f.tensorOrder.map((n) => {
    const t = f.tensors.get(n)!;
    const w: GgufTensorToWrite = { name: t.name, dtype: t.dtype, shape: t.shape, data: t.data };
    return t.shape.length >= 2 && t.name.endsWith('.weight') && !t.name.includes('conv1d') && !t.name.includes('ssm_norm') && !t.name.includes('gate_inp') ? encode(w) : w;
  });
  writeGguf(dst, [...f.metadata.entries()], tensors);
}

for (const q of ['q8_0', 'q4_0'] as DType[]) {
  test(`GGUF ${q} weights compute exactly like F32 weights holding their dequantized values`, () => {
    const src = join(goldenDir(), 'moe', 'model.gguf');
    const qPath = join(tmp, `${q}.gguf`);
    const dqPath = join(tmp, `${q}-dequantized.gguf`);
    reencode(src, qPath, (t) => ({ ...t, dtype: q, data: fromFloat32(q, toFloat32(t.dtype, t.data, t.data.length / 4)) }));
    reencode(qPath, dqPath, (t) => {
      const count = t.shape.reduce((a, b) => a * b, 1);
      const v = toFloat32(t.dtype, t.data, count);
      return { ...t, dtype: 'f32', data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
    });
    const mq = loadModel(qPath, { emulateActivations: false }).model; // storage only: same f32 inputs on both sides
    const mdq = loadModel(dqPath, { emulateActivations: false }).model;
    assert.equal(mq.weights.embed.dtype, q, 'weights stay packed in memory');
    const toks = goldenTokens(mq.config.vocabSize, 12);
    const d = worst(sequenceLogprobs(mq, toks), sequenceLogprobs(mdq, toks));
    console.log(`${q}: max |Δ logprob| packed vs dequantized-f32 = ${d.toExponential(2)}`);
    assert.ok(d <= TOLERANCE.goldenLogprob);
  });
}
