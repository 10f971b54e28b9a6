/** KV blocks + snapshot parts (state-codec `kvFrom`) rebuild a state bit-exactly; corrupt blocks are refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../errors.js';
import { parseModelConfig } from '../formats/config.js';
import { deserializeState, deserializeStatePart, serializeState } from '../model/state-codec.js';
import { createState, kvDim, reserveKv, type SequenceState } from '../model/state.js';
import { Rng } from '../testing/rng.js';
import { tinyConfigJson } from '../testing/tiny-model.js';
import { applyKvBlock, encodeKvBlock } from './kv-block.js';

const cfg = parseModelConfig(tinyConfigJson('M*-M*', 300, 512));

function filledState(tokens: number, kv: 'f32' | 'fp8'): SequenceState {
  const s = createState(cfg, 'fp-a', { kv, ssm: 'f32' });
  const rng = new Rng(5);
  for (let i = 0; i < tokens; i++) s.tokens.push(rng.int(300));
  for (const l of s.layers) {
    if (l.kind === 'mamba2') [l.conv, l.ssm].forEach((a) => a.forEach((_, i) => (a[i] = rng.normal())));
    if (l.kind === 'attention') {
      reserveKv(l, tokens, kvDim(cfg), cfg.attention.numKvHeads);
      if (l.format === 'f32') [l.k, l.v].forEach((a) => a.forEach((_, i) => (a[i] = rng.normal())));
      else {
        [l.k, l.v].forEach((a) => a.forEach((_, i) => (a[i] = rng.int(255))));
        [l.kScale, l.vScale].forEach((a) => a.forEach((_, i) => (a[i] = rng.normal())));
      }
    }
  }
  return s;
}

for (const kv of ['f32', 'fp8'] as const) {
  test(`kv blocks (${kv} KV): a part (kvFrom) + its blocks rebuilds the state bit-exactly; a part is refused as a whole state`, () => {
    const s = filledState(37, kv);
    const part = serializeState(cfg, s, { kvFrom: 32 });
    assert.ok(part.length < serializeState(cfg, s).length, 'the part leaves out 32 KV rows');
    assert.throws(() => deserializeState(cfg, 'fp-a', part), (e: unknown) => e instanceof TandemError && /KV rows from position 32 only/.test(e.message));
    const { state, kvFrom } = deserializeStatePart(cfg, 'fp-a', part);
    assert.equal(kvFrom, 32);
    for (const b of [0, 1]) assert.equal(applyKvBlock(cfg, state, b, encodeKvBlock(cfg, s, b)), true);
    assert.deepEqual(serializeState(cfg, state), serializeState(cfg, s));
    const bad = encodeKvBlock(cfg, s, 0);
    bad[30]! ^= 1;
    assert.equal(applyKvBlock(cfg, state, 0, bad), false, 'a flipped byte is refused');
    assert.equal(applyKvBlock(cfg, state, 0, bad.subarray(0, bad.length - 1)), false, 'a short block is refused');
    assert.throws(() => encodeKvBlock(cfg, s, 2), /not complete/);
  });
}

test('kv blocks: a block of another KV format is refused', () => {
  const f32 = filledState(32, 'f32');
  const fp8 = filledState(32, 'fp8');
  assert.equal(applyKvBlock(cfg, fp8, 0, encodeKvBlock(cfg, f32, 0)), false);
});
