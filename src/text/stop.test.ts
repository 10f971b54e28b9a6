import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTandemError } from '../errors.js';
import { StopMatcher } from './stop.js';

function run(stops: string[], chunks: string[]): { out: string; stopped: boolean; emits: string[] } {
  const m = new StopMatcher(stops);
  const emits: string[] = [];
  let stopped = false;
  for (const c of chunks) {
    const r = m.push(c);
    emits.push(r.emit);
    stopped ||= r.stopped;
  }
  emits.push(m.flush());
  return { out: emits.join(''), stopped, emits };
}

test('a stop string split across chunks stops the stream and is not emitted', () => {
  const r = run(['<|im_end|>'], ['Hello', ' world<|im', '_en', 'd|> trailing', 'more']);
  assert.equal(r.out, 'Hello world');
  assert.equal(r.stopped, true);
  assert.deepEqual(r.emits, ['Hello', ' world', '', '', '', '']);
});

test('text that only looked like a stop string is released', () => {
  const r = run(['STOP'], ['abc ST', 'O', 'x', ' S']);
  assert.equal(r.stopped, false);
  assert.deepEqual(r.emits, ['abc ', '', 'STOx', ' ', 'S']);
  assert.equal(r.out, 'abc STOx S');
});

test('with several stop strings the earliest complete one wins', () => {
  assert.equal(run(['world', 'lo w'], ['hello world']).out, 'hel');
  assert.equal(run(['abcd', 'c'], ['ab', 'c']).out, 'ab');
  assert.equal(run(['\n\n'], ['line\n', '\nnext']).out, 'line');
});

test('no stop strings passes text through; empty stop strings are rejected', () => {
  assert.deepEqual(run([], ['a', 'b']).emits, ['a', 'b', '']);
  try {
    new StopMatcher(['x', '']);
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(isTandemError(e) && e.code === 'BAD_ARGUMENT', String(e));
  }
});
