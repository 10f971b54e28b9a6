/** KV blocks + snapshot parts (state-codec `kvFrom`) rebuild a state bit-exactly; corrupt blocks are refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../errors.js';
import { parseModelConfig } from '../formats/config.js';
import { deserializeState, deserializeStatePart, serializeState } from '../model/state-codec.js';
import type { SequenceState } from '../model/state.js';
import { filledState as filledStateOf } from '../testing/state-fixtures.js';
import { tinyConfigJson } from '../testing/tiny-model.js';
import { applyKvBlock, encodeKvBlock } from './kv-block.js';

const cfg = parseModelConfig(tinyConfigJson('M*-M*', 300, 512));

const filledState = (tokens: number, kv: 'f32' | 'fp8'): SequenceState => filledStateOf(cfg, tokens, kv);

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
