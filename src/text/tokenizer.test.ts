import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyTokenizer } from './tiny-tokenizer.js';
import {
  loadTokenizerDir,
  tokenizerFilesFromGguf,
  tokenizerFromGguf,
  tokenizerFromJson,
  tokenizerToGgufMeta,
  type GgufTokenizerMeta,
} from './tokenizer.js';
import { errorOf } from '../testing/error-of.js';

const tiny = makeTinyTokenizer();
const tok = tokenizerFromJson(tiny.tokenizerJson, tiny.tokenizerConfig);
const SAMPLES = [
  'hello world',
  'Hello, world! 42',
  '  two  spaces\n\nand\ttabs ',
  "it's we'll",
  '😀 emoji 🚀',
  '中文字符 and 日本語',
  '<|im_start|>user\nhi<|im_end|>\n',
];

const code = errorOf;

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

test('tiny tokenizer: ids, BOS and EOS come from the files', () => {
  assert.equal(tok.vocabSize, 461);
  assert.equal(tok.bosId, 1);
  assert.deepEqual(tok.eosIds, [2]);
  assert.equal(tok.addBos, true);
  assert.match(tok.chatTemplate ?? '', /im_start/);
});

test('encode prepends BOS only with addSpecial, and special strings become their ids', () => {
  const ids = tok.encode('<|im_start|>user');
  assert.equal(ids[0], 1);
  assert.equal(ids[1], 3);
  assert.deepEqual(tok.encode('<|im_start|>user', { addSpecial: false }), ids.slice(1));
  assert.deepEqual(tok.encode('', { addSpecial: false }), []);
  assert.deepEqual(tok.encode(''), [1]);
});

test('decode inverts encode, and skipSpecial drops special tokens', () => {
  for (const s of SAMPLES) {
    assert.equal(tok.decode(tok.encode(s, { addSpecial: false })), s);
    assert.equal(tok.decode(tok.encode(s)), `<s>${s}`);
  }
  assert.equal(tok.decode(tok.encode('<|im_start|>user\nhi<|im_end|>'), { skipSpecial: true }), 'user\nhi');
  assert.equal(tok.decode([]), '');
});

test('tokenText shows byte-level strings; isSpecial marks added special tokens', () => {
  assert.equal(tok.tokenText(5 + 'h'.charCodeAt(0)), 'h');
  assert.equal(tok.tokenText(5 + 0x20), 'Ġ');
  assert.equal(tok.tokenText(4), '<|im_end|>');
  assert.equal(tok.isSpecial(4), true);
  assert.equal(tok.isSpecial(5 + 0x20), false);
});

test('ids outside the vocabulary are BAD_INPUT', () => {
  assert.match(
    code(() => tok.decode([1, 461])),
    /^BAD_INPUT: token id 461 is not in the vocabulary \(0\.\.460\)/,
  );
  assert.match(
    code(() => tok.tokenText(-1)),
    /^BAD_INPUT/,
  );
  assert.match(
    code(() => tok.tokenText(1.5)),
    /^BAD_INPUT/,
  );
});

test('loadTokenizerDir reads both files, adds generation_config EOS ids, and names missing files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-tok-'));
  try {
    assert.match(
      code(() => loadTokenizerDir(dir)),
      /^NOT_FOUND: no tokenizer\.json in .*point --model at a directory that has tokenizer\.json/,
    );
    assert.match(
      code(() => loadTokenizerDir(join(dir, 'nope'))),
      /^NOT_FOUND: model directory .* does not exist/,
    );
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tiny.tokenizerJson));
    const bare = loadTokenizerDir(dir);
    assert.equal(bare.addBos, true, 'BOS from the post-processor alone');
    assert.equal(bare.bosId, 1);
    assert.deepEqual(bare.eosIds, []);
    assert.equal(bare.chatTemplate, undefined);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tiny.tokenizerConfig));
    const full = loadTokenizerDir(dir, [4, 2]);
    assert.deepEqual(full.eosIds, [2, 4]);
    assert.match(
      code(() => loadTokenizerDir(dir, [999])),
      /^BAD_TOKENIZER: eos token id 999/,
    );
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": ');
    assert.match(
      code(() => loadTokenizerDir(dir)),
      /^BAD_TOKENIZER: .*tokenizer\.json is not valid JSON/,
    );
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": {"type": "BPE"}}');
    assert.match(
      code(() => loadTokenizerDir(dir)),
      /^BAD_TOKENIZER: tokenizer\.json is malformed/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('add_bos_token / add_eos_token in the config add what the post-processor does not', () => {
  const json = clone(tiny.tokenizerJson) as Record<string, unknown>;
  json['post_processor'] = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true };
  const cfg = clone(tiny.tokenizerConfig) as Record<string, unknown>;
  const withBos = tokenizerFromJson(json, cfg);
  assert.equal(withBos.addBos, true);
  assert.deepEqual(withBos.encode('a'), [1, 5 + 0x61]);
  const plain = tokenizerFromJson(json, { ...cfg, add_bos_token: false });
  assert.equal(plain.addBos, false);
  assert.deepEqual(plain.encode('a'), [5 + 0x61]);
  const withEos = tokenizerFromJson(json, { ...cfg, add_bos_token: false, add_eos_token: true });
  assert.deepEqual(withEos.encode('a'), [5 + 0x61, 2]);
  // A false in the config does not remove the BOS a TemplateProcessing prepends (Nemotron-H's case).
  assert.equal(tokenizerFromJson(tiny.tokenizerJson, { ...cfg, add_bos_token: false }).addBos, true);
});

test('config token fields may be AddedToken objects; chat_template may be a named list', () => {
  const cfg = {
    bos_token: { content: '<s>', special: true },
    eos_token: { content: '<|im_end|>' },
    chat_template: [
      { name: 'tool_use', template: 'T' },
      { name: 'default', template: 'D' },
    ],
  };
  const t = tokenizerFromJson(tiny.tokenizerJson, cfg);
  assert.equal(t.bosId, 1);
  assert.deepEqual(t.eosIds, [4]);
  assert.equal(t.chatTemplate, 'D');
});

test('tokenizerToGgufMeta writes llama.cpp conventions', () => {
  const meta = tokenizerToGgufMeta(tiny.tokenizerJson, tiny.tokenizerConfig);
  assert.equal(meta.model, 'gpt2');
  assert.equal(meta.pre, 'gpt-2');
  assert.equal(meta.tokens.length, 461);
  assert.deepEqual(meta.tokenTypes?.slice(0, 6), [3, 3, 3, 3, 3, 1]);
  assert.equal(meta.tokens[5 + 0x20], 'Ġ');
  assert.equal(meta.merges.length, 200);
  assert.match(meta.merges[0] ?? '', /^\S+ \S+$/);
  assert.deepEqual([meta.bosId, meta.eosId, meta.unkId, meta.padId, meta.addBosToken], [1, 2, 0, 0, true]);
  assert.match(meta.chatTemplate ?? '', /im_start/);
});

test('GGUF metadata round-trips to a tokenizer that encodes identically', () => {
  const back = tokenizerFromGguf(tokenizerToGgufMeta(tiny.tokenizerJson, tiny.tokenizerConfig));
  for (const s of SAMPLES) assert.deepEqual(back.encode(s), tok.encode(s), s);
  assert.deepEqual([back.vocabSize, back.bosId, back.eosIds, back.addBos], [461, 1, [2], true]);
  assert.equal(back.isSpecial(3), true);
});

test('GGUF holes, user-defined tokens and split pre-tokenizers', () => {
  const base = tokenizerToGgufMeta(tiny.tokenizerJson, tiny.tokenizerConfig);
  const meta: GgufTokenizerMeta = {
    ...base,
    tokens: [...base.tokens, '[PAD461]', '<think>'],
    tokenTypes: [...(base.tokenTypes ?? []), 5, 4],
    addBosToken: false,
  };
  for (const pre of ['gpt-2', 'llama-bpe', 'tekken', 'pixtral']) {
    const t = tokenizerFromGguf({ ...meta, pre });
    assert.equal(t.addBos, false);
    assert.equal(t.vocabSize, 463);
    const ids = t.encode('a <think>x');
    assert.ok(ids.includes(462), pre);
    assert.equal(t.isSpecial(462), false, 'user-defined tokens are not special');
    for (const s of SAMPLES) assert.equal(t.decode(t.encode(s)), s, `${pre}: ${s}`);
  }
  for (const pre of ['gpt-2', 'llama-bpe', 'tekken']) {
    const files = tokenizerFilesFromGguf({ ...base, pre });
    assert.equal(tokenizerToGgufMeta(files.tokenizerJson, files.tokenizerConfig).pre, pre);
  }
});

test('bad GGUF metadata is BAD_TOKENIZER with the reason', () => {
  const base = tokenizerToGgufMeta(tiny.tokenizerJson, tiny.tokenizerConfig);
  assert.match(
    code(() => tokenizerFromGguf({ ...base, model: 'llama' })),
    /^BAD_TOKENIZER: GGUF tokenizer metadata has tokenizer\.ggml\.model "llama"/,
  );
  assert.match(
    code(() => tokenizerFromGguf({ ...base, pre: 'qwen2' })),
    /^BAD_TOKENIZER: .*pre-tokenizer "qwen2"/,
  );
  assert.match(
    code(() => tokenizerFromGguf({ ...base, bosId: 1000 })),
    /^BAD_TOKENIZER: .*bos token id 1000/,
  );
  assert.match(
    code(() => tokenizerFromGguf({ ...base, tokenTypes: [1] })),
    /^BAD_TOKENIZER: .*1 token types for 461 tokens/,
  );
  const json = clone(tiny.tokenizerJson) as Record<string, unknown>;
  json['pre_tokenizer'] = { type: 'Whitespace' };
  assert.match(
    code(() => tokenizerToGgufMeta(json, tiny.tokenizerConfig)),
    /^BAD_TOKENIZER: tokenizer\.json has a pre-tokenizer GGUF cannot name/,
  );
});
