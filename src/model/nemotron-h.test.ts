import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../engine/load-model.js';
import { goldenDir } from '../testing/golden.js';
import { TandemError } from '../errors.js';
import { forward } from './nemotron-h.js';
import { createState } from './state.js';

const { model } = loadModel(join(goldenDir(), 'dense')); // M*M-M-*M

test('onTensor reports every named intermediate per layer, in forward order, without changing results', () => {
  const seen: string[] = [];
  const s1 = createState(model.config, model.fingerprint);
  const a = forward(model, s1, [1, 2, 3], { onTensor: (name, layer, data) => seen.push(`${name}-${layer}:${data.length}`) });
  const b = forward(model, createState(model.config, model.fingerprint), [1, 2, 3]);
  assert.deepEqual(a, b);
  assert.deepEqual(seen.slice(0, 6), ['ssm_in-0:984', 'conv_out-0:576', 'ssd_y-0:384', 'ssm_norm-0:384', 'l_out-0:288', 'attn_out-1:384']);
  assert.ok(seen.includes('ffn_out-3:288'));
  assert.equal(seen.filter((n) => n.startsWith('l_out')).length, model.config.layers.length);
});

test('forward rejects bad input before touching the state', () => {
  const s = createState(model.config, model.fingerprint);
  const bad = (tokens: number[], code: string): void => {
    assert.throws(() => forward(model, s, tokens), (e: unknown) => e instanceof TandemError && e.code === code);
    assert.equal(s.tokens.length, 0);
  };
  bad([], 'BAD_INPUT');
  bad([model.config.vocabSize], 'BAD_INPUT');
  bad([-1], 'BAD_INPUT');
  bad([1.5], 'BAD_INPUT');
  const other = createState(model.config, 'another-model');
  assert.throws(() => forward(model, other, [1]), (e: unknown) => e instanceof TandemError && e.code === 'BAD_STATE');
});
