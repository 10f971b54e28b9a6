import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceEvent } from '../engine/service.js';
import { goldenDir } from '../testing/golden.js';
import { OutputParser } from '../text/output-parser.js';
import { tokenizerFromJson } from '../text/tokenizer.js';
import { apiFinishReason, specialTagFinder, toParts, type StreamPart } from './stream-parts.js';

/** The dense fixture's tokenizer plus Nemotron 3's reasoning and tool-call tags as special tokens 461–464. */
function nemotron3StyleTokenizer() {
  const dir = join(goldenDir(), 'dense');
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { added_tokens: object[] };
  const tags = ['<think>', '</think>', '<tool_call>', '</tool_call>'];
  tags.forEach((content, i) => json.added_tokens.push({ id: 461 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return tokenizerFromJson(json, JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as object);
}

async function* events(list: ServiceEvent[]): AsyncGenerator<ServiceEvent> {
  yield* list;
}

async function collect(it: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const p of it) out.push(p);
  return out;
}

const usage = { promptTokens: 3, completionTokens: 5, cachedTokens: 0 };

test('tags that arrive as skipped special tokens still drive the parser (Nemotron 3)', async () => {
  const tok = nemotron3StyleTokenizer();
  assert.ok(tok.isSpecial(463));
  const parts = await collect(
    toParts(
      events([
        { type: 'token', token: 461, text: '' },
        { type: 'token', token: 70, text: 'plan' },
        { type: 'token', token: 462, text: '' },
        { type: 'token', token: 463, text: '' },
        { type: 'token', token: 71, text: '\n<function=f>\n<parameter=x>\n1\n</parameter>\n</function>\n' },
        { type: 'token', token: 464, text: '' },
        { type: 'finish', reason: 'eos', usage },
      ]),
      { parser: new OutputParser({ reasoning: true, toolCalls: true }), tagOf: specialTagFinder(tok) },
    ),
  );
  const types = parts.map((p) => p.type);
  assert.deepEqual(types, ['reasoning-start', 'reasoning-delta', 'reasoning-end', 'tool-input-start', 'tool-input-delta', 'tool-input-end', 'tool-call', 'finish']);
  const call = parts.find((p) => p.type === 'tool-call');
  assert.deepEqual(call?.type === 'tool-call' ? [call.name, call.arguments] : [], ['f', '{"x":1}']);
  const finish = parts[parts.length - 1]!;
  assert.equal(finish.type === 'finish' ? finish.reason : '', 'tool_calls'); // SERVE.2
  const once = specialTagFinder(tok);
  assert.equal(once(463, '<tool_call>'), undefined, 'a tag already in the text is not doubled');
  assert.equal(once(3, ''), undefined, 'other special tokens add nothing'); // SERVE.2
});

test('finish-reason remap', () => {
  assert.equal(apiFinishReason('eos', 0), 'stop');
  assert.equal(apiFinishReason('stop', 0), 'stop');
  assert.equal(apiFinishReason('length', 0), 'length');
  assert.equal(apiFinishReason('eos', 1), 'tool_calls'); // SERVE.5
});

test('logprobs ride on the next delta; an aborted stream ends without finish', async () => {
  const lp = (token: number) => ({ token, logprob: -1, top: [] });
  const parts = await collect(
    toParts(
      events([
        { type: 'token', token: 1, text: '', logprob: lp(1) },
        { type: 'token', token: 2, text: 'é', logprob: lp(2) },
      ]),
    ),
  );
  assert.deepEqual(parts.map((p) => p.type), ['text-start', 'text-delta']);
  const d = parts[1]!;
  assert.deepEqual(d.type === 'text-delta' ? d.logprobs.map((x) => x.token) : [], [1, 2]); // SERVE.6
});
