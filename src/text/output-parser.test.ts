import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutputParser, promptOpensReasoning, type OutputPart } from './output-parser.js';
import { parseNanoV2, parseToolCallTag } from './tool-call-formats.js';

/** Feeds `text` one character at a time (the worst split) and merges adjacent parts of the same kind. */
function parseChars(text: string, p: OutputParser): OutputPart[] {
  const parts = [...[...text].flatMap((ch) => p.push(ch)), ...p.flush()];
  const out: OutputPart[] = [];
  for (const part of parts) {
    const last = out[out.length - 1];
    if (last !== undefined && part.type !== 'tool-call' && last.type === part.type) out[out.length - 1] = { type: part.type, text: last.text + part.text };
    else out.push(part);
  }
  return out;
}

const tools = (): OutputParser => new OutputParser({ reasoning: true, toolCalls: true });

test('Nano-v2 <TOOLCALL> list → tool calls, split at every character', () => {
  const parts = parseChars('Sure. <TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "now", "arguments": {}}]</TOOLCALL>', tools());
  assert.deepEqual(parts, [
    { type: 'text', text: 'Sure. ' },
    { type: 'tool-call', call: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    { type: 'tool-call', call: { name: 'now', arguments: '{}' } },
  ]); // SERVE.4
});

test('Nemotron 3 <tool_call> in qwen3_coder XML and in Hermes JSON', () => {
  const xml = '<tool_call>\n<function=add>\n<parameter=a>\n2\n</parameter>\n<parameter=label>\nsum of two\n</parameter>\n</function>\n</tool_call>';
  assert.deepEqual(parseChars(xml, tools()), [{ type: 'tool-call', call: { name: 'add', arguments: '{"a":2,"label":"sum of two"}' } }]); // SERVE.4
  const json = '<tool_call>\n{"name": "add", "arguments": {"a": 2}}\n</tool_call>';
  assert.deepEqual(parseChars(json, tools()), [{ type: 'tool-call', call: { name: 'add', arguments: '{"a":2}' } }]); // SERVE.4
});

test('held-back text: a tag prefix that does not complete is released as text', () => {
  const p = tools();
  assert.deepEqual(p.push('a <TOOL'), [{ type: 'text', text: 'a ' }]);
  assert.deepEqual(p.push('S'), [{ type: 'text', text: '<TOOLS' }]); // SERVE.2
  assert.deepEqual(p.push('<tool_'), []);
  assert.deepEqual(p.flush(), [{ type: 'text', text: '<tool_' }]); // SERVE.2
});

test('a malformed or unterminated tool-call block passes through as text', () => {
  assert.deepEqual(parseChars('<TOOLCALL>[not json]</TOOLCALL>', tools()), [{ type: 'text', text: '<TOOLCALL>[not json]</TOOLCALL>' }]); // SERVE.4
  assert.deepEqual(parseChars('x<TOOLCALL>[{"name"', tools()), [{ type: 'text', text: 'x<TOOLCALL>[{"name"' }]); // SERVE.4
  assert.equal(parseNanoV2('[{"arguments": {}}]'), undefined);
  assert.equal(parseToolCallTag('<function=f>unclosed'), undefined);
});

test('without tools, tool-call tags are plain text (parser choice follows the request)', () => {
  const p = new OutputParser({ reasoning: true, toolCalls: false });
  assert.deepEqual(parseChars('<TOOLCALL>[{"name":"f","arguments":{}}]</TOOLCALL>', p), [{ type: 'text', text: '<TOOLCALL>[{"name":"f","arguments":{}}]</TOOLCALL>' }]); // SERVE.2
});

test('<think> … </think> becomes reasoning, also when the prompt opened it', () => {
  assert.deepEqual(parseChars('<think>hmm</think>Answer', tools()), [
    { type: 'reasoning', text: 'hmm' },
    { type: 'text', text: 'Answer' },
  ]); // SERVE.2
  const opened = new OutputParser({ reasoning: true, startInReasoning: true, toolCalls: false });
  assert.deepEqual(parseChars('plan</think>\nDone', opened), [
    { type: 'reasoning', text: 'plan' },
    { type: 'text', text: '\nDone' },
  ]); // SERVE.2
  assert.equal(promptOpensReasoning('<|im_start|>assistant\n<think>\n'), true);
  assert.equal(promptOpensReasoning('<|im_start|>assistant\n<think></think>'), false);
  assert.equal(promptOpensReasoning('<|im_start|>assistant\n'), false); // SERVE.2
});
