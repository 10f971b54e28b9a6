import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IncrementalDetokenizer } from './detokenizer.js';
import { makeTinyTokenizer } from './tiny-tokenizer.js';
import { tokenizerFromJson } from './tokenizer.js';

const { tokenizerJson, tokenizerConfig } = makeTinyTokenizer();
const tok = tokenizerFromJson(tokenizerJson, tokenizerConfig);
/** One token per UTF-8 byte: ids 5..260 are the byte-level symbols in byte order. */
const byteIds = (s: string): number[] => Array.from(new TextEncoder().encode(s), (b) => 5 + b);

function stream(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string[] {
  const d = new IncrementalDetokenizer(tok, opts);
  const pieces = ids.map((id) => d.push(id));
  pieces.push(d.flush());
  return pieces;
}

test('emoji split byte by byte is emitted only when complete', () => {
  const pieces = stream(byteIds('a😀b'));
  assert.deepEqual(pieces, ['a', '', '', '', '😀', 'b', '']); // SERVE.6
});

test('CJK and emoji text streams without U+FFFD and joins to the full decode', () => {
  for (const text of ['中文字符 and 日本語', '👩‍👩‍👧 family 🚀🚀', 'mixed: naïve café — 한국어\n']) {
    for (const ids of [byteIds(text), tok.encode(text, { addSpecial: false })]) {
      const pieces = stream(ids);
      assert.ok(
        pieces.every((p) => !p.includes('\uFFFD')),
        JSON.stringify(pieces),
      );
      assert.equal(pieces.join(''), text); // SERVE.6
    }
  }
});

test('special tokens are kept or skipped', () => {
  const ids = tok.encode('<|im_start|>assistant\nhi😀<|im_end|>');
  assert.equal(stream(ids).join(''), '<s><|im_start|>assistant\nhi😀<|im_end|>');
  assert.equal(stream(ids, { skipSpecial: true }).join(''), 'assistant\nhi😀'); // SERVE.6
});

test('flush releases a truncated character as U+FFFD and resets', () => {
  const d = new IncrementalDetokenizer(tok);
  assert.equal(d.push(byteIds('x')[0]!), 'x');
  for (const id of byteIds('😀').slice(0, 2)) assert.equal(d.push(id), '');
  assert.equal(d.flush(), '\uFFFD');
  assert.equal(d.flush(), '');
  assert.equal(d.push(byteIds('y')[0]!), 'y'); // SERVE.6
});
