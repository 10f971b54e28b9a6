import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byteLevelAlphabet, makeTinyTokenizer, TINY_CORPUS } from './tiny-tokenizer.js';
import { tokenizerFromGguf, tokenizerFromJson, tokenizerToGgufMeta } from './tokenizer.js';

const ROUND_TRIP = [
  'The quick brown fox jumps over the lazy dog.',
  'Hybrid models keep a small state per layer.',
  'emoji: 😀🚀👩‍👩‍👧 done',
  'CJK: 中文字符, 日本語のテキスト, 한국어',
  'line one\nline two\r\n\n\ttabbed   spaced  ',
  '<s><|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n',
  'numbers 12345 and punctuation !?.,;:\'"()[]{}',
];

test('the tiny tokenizer is deterministic and has the documented layout', () => {
  const a = makeTinyTokenizer();
  assert.deepEqual(a, makeTinyTokenizer());
  assert.ok(TINY_CORPUS.length >= 1800, 'about 2 KB of corpus');
  const json = JSON.parse(JSON.stringify(a.tokenizerJson)) as {
    model: { vocab: Record<string, number>; merges: string[] };
  };
  const vocab = json.model.vocab;
  assert.equal(Object.keys(vocab).length, 461);
  assert.equal(json.model.merges.length, 200);
  assert.deepEqual(
    [vocab['<unk>'], vocab['<s>'], vocab['</s>'], vocab['<|im_start|>'], vocab['<|im_end|>']],
    [0, 1, 2, 3, 4],
  );
  byteLevelAlphabet().forEach((symbol, byte) => assert.equal(vocab[symbol], 5 + byte));
  assert.equal(byteLevelAlphabet()[0x20], 'Ġ');
  assert.equal(byteLevelAlphabet()[0x0a], 'Ċ');
  const small = makeTinyTokenizer({ merges: 10 }).tokenizerJson as { model: { merges: string[] } };
  assert.deepEqual(small.model.merges, json.model.merges.slice(0, 10), 'merges are a prefix of a longer run');
  const cfg = a.tokenizerConfig as Record<string, unknown>;
  assert.deepEqual([cfg['bos_token'], cfg['eos_token'], cfg['add_bos_token']], ['<s>', '</s>', true]);
});

test('encode → decode round-trips ASCII, emoji, CJK, newlines and special tokens', () => {
  const { tokenizerJson, tokenizerConfig } = makeTinyTokenizer();
  // Through JSON text, as the files are written to disk.
  const tok = tokenizerFromJson(
    JSON.parse(JSON.stringify(tokenizerJson)) as object,
    JSON.parse(JSON.stringify(tokenizerConfig)) as object,
  );
  for (const s of ROUND_TRIP) {
    assert.equal(tok.decode(tok.encode(s, { addSpecial: false })), s);
  }
  const chat = tok.encode('<|im_start|>user\nhi<|im_end|>', { addSpecial: false });
  assert.equal(chat[0], 3);
  assert.equal(chat.at(-1), 4);
});

test('"hello world" merges into fewer tokens than bytes', () => {
  const { tokenizerJson, tokenizerConfig } = makeTinyTokenizer();
  const tok = tokenizerFromJson(tokenizerJson, tokenizerConfig);
  const ids = tok.encode('hello world', { addSpecial: false });
  assert.ok(ids.length < 'hello world'.length, `${ids.length} tokens`);
  assert.ok(tok.encode('Hello world', { addSpecial: false }).length <= 4);
});

test('GGUF round trip tokenizerToGgufMeta → tokenizerFromGguf encodes like the original', () => {
  const { tokenizerJson, tokenizerConfig } = makeTinyTokenizer();
  const original = tokenizerFromJson(tokenizerJson, tokenizerConfig);
  const back = tokenizerFromGguf(tokenizerToGgufMeta(tokenizerJson, tokenizerConfig));
  for (const s of [...ROUND_TRIP, TINY_CORPUS]) {
    assert.deepEqual(back.encode(s), original.encode(s));
    assert.equal(back.decode(back.encode(s)), original.decode(original.encode(s)));
  }
});
