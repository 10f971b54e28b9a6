import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../formats/config.js';
import { tinyConfigJson } from '../testing/tiny-model.js';
import { Rng } from '../testing/rng.js';
import { filledState as filledStateOf } from '../testing/state-fixtures.js';
import { TandemError } from '../errors.js';
import { createState, reserveKv, kvDim, type SequenceState } from './state.js';
import { deserializeState, serializeState } from './state-codec.js';

const cfg = parseModelConfig(tinyConfigJson('M*-M', 300, 512));

const filledState = (tokens: number): SequenceState => filledStateOf(cfg, tokens);

const refused = (f: () => unknown, needle: string): void => {
  assert.throws(f, (e: unknown) => e instanceof TandemError && e.code === 'BAD_STATE' && e.message.includes(needle));
};

test('round trip keeps tokens, conv/SSM state and the used KV rows bit-exactly', () => {
  const s = filledState(37);
  const back = deserializeState(cfg, 'fp-a', serializeState(cfg, s));
  assert.deepEqual(back.tokens, s.tokens);
  back.layers.forEach((l, i) => {
    const o = s.layers[i]!;
    if (l.kind === 'mamba2' && o.kind === 'mamba2') {
      assert.deepEqual(l.conv, o.conv);
      assert.deepEqual(l.ssm, o.ssm);
    }
    if (l.kind === 'attention' && o.kind === 'attention') assert.deepEqual(l.k, o.k.subarray(0, 37 * kvDim(cfg)));
  });
});

test('an empty state round-trips', () => {
  const s = createState(cfg, 'fp-a');
  assert.deepEqual(deserializeState(cfg, 'fp-a', serializeState(cfg, s)).tokens, []);
});

test('flipped bytes anywhere and truncation are refused by the checksum', () => {
  const blob = serializeState(cfg, filledState(9));
  for (const at of [0, 9, 20, 100, blob.length - 40, blob.length - 1]) {
    const bad = blob.slice();
    bad[at] = bad[at]! ^ 0x10;
    assert.throws(() => deserializeState(cfg, 'fp-a', bad), (e: unknown) => e instanceof TandemError && e.code === 'BAD_STATE');
  }
  refused(() => deserializeState(cfg, 'fp-a', blob.subarray(0, blob.length - 100)), 'checksum');
  refused(() => deserializeState(cfg, 'fp-a', blob.subarray(0, 10)), 'bad magic');
});

test('a state from another model or another layout is refused', () => {
  const blob = serializeState(cfg, filledState(4));
  refused(() => deserializeState(cfg, 'fp-b', blob), 'another model');
  const other = parseModelConfig(tinyConfigJson('M*-MM', 300, 512));
  refused(() => deserializeState(other, 'fp-a', blob), 'layer layout');
});

test('FP8 KV and BF16 SSM states round-trip bit-exactly and report their smaller size', () => {
  const s = createState(cfg, 'fp-a', { kv: 'fp8', ssm: 'bf16' });
  const rng = new Rng(8);
  for (let i = 0; i < 11; i++) s.tokens.push(rng.int(300));
  for (const l of s.layers) {
    if (l.kind === 'mamba2' && l.ssmFormat === 'bf16') l.ssm.forEach((_, i) => (l.ssm[i] = rng.int(65536) & 0x7f7f));
    if (l.kind === 'attention' && l.format === 'fp8') {
      reserveKv(l, 11, kvDim(cfg), cfg.attention.numKvHeads);
      l.k.forEach((_, i) => (l.k[i] = rng.int(127)));
      l.kScale.forEach((_, i) => (l.kScale[i] = rng.uniform(0.01, 1)));
    }
  }
  const blob = serializeState(cfg, s);
  const back = deserializeState(cfg, 'fp-a', blob);
  back.layers.forEach((l, i) => {
    const o = s.layers[i]!;
    if (l.kind === 'mamba2' && o.kind === 'mamba2') assert.deepEqual(l.ssm, o.ssm);
    if (l.kind === 'attention' && o.kind === 'attention' && l.format === 'fp8' && o.format === 'fp8') {
      assert.deepEqual(l.k, o.k.subarray(0, 11 * kvDim(cfg)));
      assert.deepEqual(l.kScale, o.kScale.subarray(0, 11 * cfg.attention.numKvHeads));
    }
  });
  const f32 = serializeState(cfg, filledState(11));
  assert.ok(blob.length < f32.length, `fp8/bf16 blob ${blob.length} B should be smaller than f32 ${f32.length} B`);
});
