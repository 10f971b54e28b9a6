/**
 * Loading into a backend's own memory (`prepareMatrix`): a GGUF is read lazily tensor by tensor, the fingerprint is the
 * same as a plain load's (states and cache entries stay interchangeable between backends), no matrix keeps file bytes,
 * and the numbers match the plain load.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGgufLazy, readGgufFile } from '../formats/gguf.js';
import { forward, newState } from '../model/nemotron-h.js';
import { createBackend } from '../numerics/select.js';
import { goldenDir, goldenTokens } from '../testing/golden.js';
import { makeTiny } from '../testing/tiny-model.js';
import { TOLERANCE, maxAbsDiff } from '../testing/tolerances.js';
import { loadModel } from './load-model.js';

const wasm = await createBackend('wasm', { threads: 1 });
after(() => wasm.close());

test('lazy GGUF: every tensor reads the same bytes as the whole-file reader, fresh on each access', () => {
  const path = join(goldenDir(), 'moe', 'model.gguf');
  const whole = readGgufFile(path);
  const lazy = openGgufLazy(path);
  try {
    assert.deepEqual([...lazy.file.tensors.keys()], [...whole.tensors.keys()]);
    for (const [name, t] of whole.tensors) {
      const l = lazy.file.tensors.get(name)!;
      assert.deepEqual([l.dtype, l.shape], [t.dtype, t.shape], name);
      const a = l.data;
      assert.ok(Buffer.from(a).equals(Buffer.from(t.data)), name);
      assert.notEqual(l.data, a, 'no caching: each access is a fresh buffer the caller may drop');
    }
    assert.deepEqual([...lazy.file.metadata.keys()], [...whole.metadata.keys()]);
  } finally {
    lazy.close();
  }
  assert.throws(() => lazy.file.tensors.values().next().value!.data, /after the file was closed/);
});

for (const name of ['dense', 'moe']) {
  test(`${name}: a prepared (wasm) load has the plain load's fingerprint, no file bytes, and the same logits`, () => {
    const path = join(goldenDir(), name, 'model.gguf');
    const plain = loadModel(path).model;
    const moved = loadModel(path, { backend: wasm }).model;
    assert.equal(moved.fingerprint, plain.fingerprint);
    assert.equal(moved.weights.embed.data.byteLength, 0, 'the embedding lives in wasm memory only');
    const layer = moved.weights.layers[0]!;
    assert.ok(layer.kind === 'mamba2' && layer.inProj.data.byteLength === 0);
    const tokens = goldenTokens(plain.config.vocabSize, 24);
    const d = maxAbsDiff(forward(plain, newState(plain), tokens), forward(moved, newState(moved), tokens)).maxAbs;
    console.log(`${name}: wasm prepared vs ref, max |Δ logit| ${d.toExponential(2)}`);
    assert.ok(d <= TOLERANCE.chunkInvarianceLogit, `logits differ by ${d}`);
  });
}

test('activation arithmetic: GGUF defaults to llama.cpp\'s (ggml vec_dot input types), HF to weight-only; both overridable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-act-'));
  try {
    makeTiny(dir, { pattern: 'M*-M', seed: 3, dtype: 'f16' });
    const inProjAct = (path: string, o = {}): string | undefined => {
      const l = loadModel(path, o).model.weights.layers[0]!;
      return l.kind === 'mamba2' ? l.inProj.act?.format : 'not mamba';
    };
    assert.equal(inProjAct(join(dir, 'model.gguf')), 'f16', 'GGUF: f16 inputs, as ggml_vec_dot_f16');
    assert.equal(inProjAct(join(dir, 'model.gguf'), { emulateActivations: false }), undefined);
    assert.equal(inProjAct(dir), undefined, 'HF: weight-only');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
