import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from './config.js';
import { buildWeights } from './weights.js';
import { hfToGgufTensors } from './hf-to-gguf.js';
import type { RawTensor } from './raw-tensor.js';
import { tinyConfigJson, tinyTensors } from '../testing/tiny-model.js';
import { TandemError } from '../errors.js';

const cfg = parseModelConfig(tinyConfigJson('M*-M', 300, 512));
const moeCfg = parseModelConfig(tinyConfigJson('ME*EME', 300, 512));
const asMap = (ts: RawTensor[]): Map<string, RawTensor> => new Map(ts.map((t) => [t.name, t]));

test('a complete checkpoint loads; matrices are zero-copy views', () => {
  const ts = asMap(tinyTensors(cfg, 1, 'f32'));
  const w = buildWeights(cfg, ts, 'hf', 'fixture');
  assert.equal(w.layers.length, 4);
  assert.equal(w.layers[0]!.kind, 'mamba2');
  assert.equal(w.embed.data, ts.get('backbone.embeddings.weight')!.data);
  const m = w.layers[0]!;
  if (m.kind !== 'mamba2') throw new Error('unreachable');
  const alog = new Float32Array(ts.get('backbone.layers.0.mixer.A_log')!.data.slice().buffer);
  assert.ok(Math.abs(m.A[0]! + Math.exp(alog[0]!)) < 1e-6, 'A = −exp(A_log)');
});

test('missing, unexpected and mis-shaped tensors are all listed in one error', () => {
  const ts = asMap(tinyTensors(cfg, 1, 'f32'));
  ts.delete('backbone.layers.1.mixer.q_proj.weight');
  ts.delete('lm_head.weight');
  ts.set('backbone.layers.9.extra.weight', { name: 'backbone.layers.9.extra.weight', dtype: 'f32', shape: [2], data: new Uint8Array(8) });
  const up = ts.get('backbone.layers.2.mixer.up_proj.weight')!;
  ts.set(up.name, { ...up, shape: [up.shape[1]!, up.shape[0]!] });
  assert.throws(() => buildWeights(cfg, ts, 'hf', 'fixture'), (e: unknown) => {
    assert.ok(e instanceof TandemError && e.code === 'TENSOR_MISMATCH');
    for (const needle of ['2 missing', 'q_proj', 'lm_head.weight', '1 unexpected', 'backbone.layers.9.extra.weight', '1 mis-shaped', 'up_proj.weight is [96, 160], expected [160, 96]']) {
      assert.ok(e.message.includes(needle), `"${e.message}" should include ${needle}`);
    }
    return true;
  });
});

test('MTP tensors are ignored, not unexpected', () => {
  const ts = asMap(tinyTensors(cfg, 1, 'f32'));
  ts.set('mtp.layers.0.enorm.weight', { name: 'mtp.layers.0.enorm.weight', dtype: 'f32', shape: [96], data: new Uint8Array(384) });
  assert.doesNotThrow(() => buildWeights(cfg, ts, 'hf', 'fixture'));
});

test('HF → GGUF tensor conversion loads under GGUF names with identical weights', () => {
  for (const c of [cfg, moeCfg]) {
    const hf = asMap(tinyTensors(c, 3, 'f32'));
    const gg = asMap(hfToGgufTensors(c, hf).map((t) => ({ ...t, shape: [...t.shape] })));
    const a = buildWeights(c, hf, 'hf', 'hf');
    const b = buildWeights(c, gg, 'gguf', 'gguf');
    assert.deepEqual(b.layers.map((l) => l.kind), a.layers.map((l) => l.kind));
    a.layers.forEach((la, i) => {
      const lb = b.layers[i]!;
      if (la.kind === 'mamba2' && lb.kind === 'mamba2') {
        assert.deepEqual(lb.A, la.A);
        assert.deepEqual(lb.convW, la.convW);
        assert.deepEqual(lb.gateNorm, la.gateNorm);
      }
      if (la.kind === 'moe' && lb.kind === 'moe') {
        la.experts.forEach((e, j) => assert.deepEqual(lb.experts[j]!.down.data, e.down.data));
      }
    });
  }
});
