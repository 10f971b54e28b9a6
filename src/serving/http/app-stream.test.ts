/**
 * Generation over raw HTTP with a scripted fake service: sampling projection, streamed vs whole responses, n > 1,
 * tool calls and reasoning, logprobs, finish reasons, client disconnects, health and metrics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sseEvents, startFakeServer, type FakeServer } from '../../testing/serve-fixture.js';
import { textScript, type FakeStep } from '../../testing/fake-service.js';
import type { ChatCompletion, ChatCompletionChunk } from '../protocol/chat-completion.js';
import type { Completion } from '../protocol/completion.js';
import type { GenerationRequest } from '../../engine/service.js';

/** Scripts chosen by the prompt's last user text (the fake sees token ids, so a marker word picks the script). */
const SCRIPTS: Record<string, (req: GenerationRequest) => FakeStep[]> = {
  tools: () => textScript(['Let me check.', ' <TOOL', 'CALL>[{"name": "get_weather", ', '"arguments": {"city": "Paris"}}]</TOOL', 'CALL>']),
  think: () => textScript(['<think>', 'short plan', '</think>', 'The answer', ' is 4.']),
  hang: () => [{ type: 'token', token: 10, text: 'first' }, { type: 'hang' }],
  slow: () => textScript(['a', 'b', 'c', 'd'], { delayMs: 5, logprobs: 2 }),
  length: () => textScript(['x', 'y', 'z'], { reason: 'length' }),
  tail: () => textScript(['ab', '<TOOL'], { tail: 'CALL>[{"name": "f", "arguments": {}}]</TOOLCALL>' }),
};

let s: FakeServer;
before(async () => {
  s = await startFakeServer({
    maxContext: 128,
    script: (req) => {
      const text = s.tokenizer.decode(req.prompt, { skipSpecial: true });
      const key = Object.keys(SCRIPTS).find((k) => text.includes(`#${k}`));
      return key ? SCRIPTS[key]!(req) : textScript(['Hello', ' wor', 'ld', '!']);
    },
  });
});
after(() => s.close());

const CHAT = '/v1/chat/completions';
const chat = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: 'fake-model', messages: [{ role: 'user', content }], max_tokens: 16, ...extra });
const TOOLS = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
const json = async <T>(res: Response): Promise<T> => {
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as T;
};
const chunks = async (res: Response): Promise<ChatCompletionChunk[]> => {
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  return sseEvents(await res.text()) as ChatCompletionChunk[];
};
const lastCall = (): GenerationRequest => s.service.calls[s.service.calls.length - 1]!.req;

test('sampling projection: request fields → the service request', async () => {
  await json(await s.post('/v1/completions', { prompt: 'Hello', max_tokens: 7, temperature: 0.5, top_p: 0.9, top_k: 40, min_p: 0.1, repetition_penalty: 1.2, seed: 42, stop: ['\n', 'END'], ignore_eos: true, user: 'u1' }));
  const req = lastCall();
  assert.deepEqual(req.sampling, { temperature: 0.5, topK: 40, topP: 0.9, minP: 0.1, repetitionPenalty: 1.2, seed: 42 });
  assert.equal(req.maxTokens, 7);
  assert.deepEqual(req.stop, ['\n', 'END']);
  assert.equal(req.ignoreEos, true);
  assert.deepEqual(req.prompt, s.tokenizer.encode('Hello')); // SERVE.3
  await json(await s.post('/v1/completions', { prompt: 'Hello', top_k: -1, stop: 'x' }));
  const d = lastCall();
  assert.equal(d.sampling.temperature, 1, 'OpenAI default temperature');
  assert.equal(d.sampling.topK, 0, 'top_k -1 = off');
  assert.deepEqual(d.stop, ['x']);
  assert.equal(d.maxTokens, 128 - d.prompt.length, 'default max_tokens fills the context'); // SERVE.3
  await json(await s.post(CHAT, chat('hi', { max_tokens: 3, max_completion_tokens: 5 })));
  assert.equal(lastCall().maxTokens, 5, 'max_completion_tokens wins'); // SERVE.3
});

test('chat prompt is the model template rendered and encoded without extra BOS', async () => {
  await json(await s.post(CHAT, { messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }] }));
  assert.equal(s.tokenizer.decode(lastCall().prompt), '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\n'); // SERVE.1
});

test('n = 3: independent requests seeded seed, seed+1, seed+2; prompt tokens counted once', async () => {
  const before = s.service.calls.length;
  const r = await json<Completion>(await s.post('/v1/completions', { prompt: 'Hello', n: 3, seed: 7, temperature: 0.8, max_tokens: 8 }));
  const calls = s.service.calls.slice(before);
  assert.deepEqual(calls.map((c) => c.req.sampling.seed), [7, 8, 9]);
  assert.equal(new Set(calls.map((c) => c.req.id)).size, 3);
  assert.deepEqual(r.choices.map((c) => [c.index, c.text]), [[0, 'Hello world!'], [1, 'Hello world!'], [2, 'Hello world!']]);
  assert.deepEqual(r.usage, { prompt_tokens: 2, completion_tokens: 12, total_tokens: 14, prompt_tokens_details: { cached_tokens: 0 } }); // SERVE.3
});

test('a batch of prompts gives prompt-major choices', async () => {
  const before = s.service.calls.length;
  const r = await json<Completion>(await s.post('/v1/completions', { prompt: ['Hello', 'Hello world'], n: 2, max_tokens: 2 }));
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.deepEqual(r.choices.map((c) => c.text), ['Hello wor', 'Hello wor', 'Hello wor', 'Hello wor']);
  assert.equal(r.choices[0]!.finish_reason, 'length');
  const prompts = s.service.calls.slice(before).map((c) => s.tokenizer.decode(c.req.prompt, { skipSpecial: true }));
  assert.deepEqual(prompts, ['Hello', 'Hello', 'Hello world', 'Hello world']);
  assert.equal(r.usage?.prompt_tokens, s.tokenizer.encode('Hello').length + s.tokenizer.encode('Hello world').length); // SERVE.3
  await json<Completion>(await s.post('/v1/completions', { prompt: [[1, 72], [1, 73]], max_tokens: 2 }));
  assert.deepEqual(s.service.calls.slice(-2).map((c) => c.req.prompt), [[1, 72], [1, 73]]); // SERVE.3
});

test('streamed chat: role first, deltas assemble to the whole text, finish, usage only with include_usage', async () => {
  const whole = await json<ChatCompletion>(await s.post(CHAT, chat('hi')));
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0]!.message.content, 'Hello world!');
  assert.equal(whole.choices[0]!.finish_reason, 'stop');
  const cs = await chunks(await s.post(CHAT, chat('hi', { stream: true, stream_options: { include_usage: true } })));
  assert.deepEqual(cs[0]!.choices[0]!.delta, { role: 'assistant', content: '' });
  assert.equal(cs.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Hello world!'); // SERVE.6
  assert.ok(cs.every((c) => c.id === cs[0]!.id && c.object === 'chat.completion.chunk'));
  const fin = cs[cs.length - 2]!;
  assert.equal(fin.choices[0]!.finish_reason, 'stop');
  const usage = cs[cs.length - 1]!;
  assert.deepEqual(usage.choices, []);
  assert.deepEqual(usage.usage, whole.usage);
  const plain = await chunks(await s.post(CHAT, chat('hi', { stream: true })));
  assert.ok(plain.every((c) => c.usage === undefined && c.choices.length === 1)); // SERVE.6
});

test('finish reasons: eos → stop, length → length, tool call → tool_calls', async () => {
  const r = await json<ChatCompletion>(await s.post(CHAT, chat('#length')));
  assert.equal(r.choices[0]!.finish_reason, 'length');
  const cut = await json<ChatCompletion>(await s.post(CHAT, chat('hi', { max_tokens: 2 })));
  assert.equal(cut.choices[0]!.finish_reason, 'length');
  assert.equal(cut.choices[0]!.message.content, 'Hello wor'); // SERVE.5
});

test('tool calls: parsed into tool_calls; streamed as deltas with no partial tag in the content', async () => {
  const r = await json<ChatCompletion>(await s.post(CHAT, chat('#tools', { tools: TOOLS })));
  const c = r.choices[0]!;
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.content, 'Let me check. ');
  assert.equal(c.message.tool_calls?.length, 1);
  const call = c.message.tool_calls![0]!;
  assert.match(call.id, /^call_/);
  assert.deepEqual([call.type, call.function.name, JSON.parse(call.function.arguments)], ['function', 'get_weather', { city: 'Paris' }]); // SERVE.4

  const cs = await chunks(await s.post(CHAT, chat('#tools', { tools: TOOLS, stream: true })));
  const content = cs.map((x) => x.choices[0]?.delta.content ?? '').join('');
  assert.equal(content, 'Let me check. ');
  assert.ok(!cs.some((x) => (x.choices[0]?.delta.content ?? '').includes('<')), 'no tag text leaks into content');
  const deltas = cs.flatMap((x) => x.choices[0]?.delta.tool_calls ?? []);
  assert.equal(deltas[0]!.index, 0);
  assert.match(deltas[0]!.id ?? '', /^call_/);
  assert.equal(deltas[0]!.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(deltas.map((d) => d.function.arguments ?? '').join('')), { city: 'Paris' });
  assert.equal(cs[cs.length - 1]!.choices[0]!.finish_reason, 'tool_calls'); // SERVE.4

  const none = await json<ChatCompletion>(await s.post(CHAT, chat('#tools', { tools: TOOLS, tool_choice: 'none' })));
  assert.match(none.choices[0]!.message.content ?? '', /<TOOLCALL>/);
  assert.equal(none.choices[0]!.finish_reason, 'stop', 'tool_choice none: no parsing'); // SERVE.2
  const offered = s.tokenizer.decode(lastCall().prompt);
  assert.ok(offered.startsWith('<|im_start|>user'), 'ChatML ignores tools'); // SERVE.1
});

test('text held back to the finish event is delivered (and parsed) in both modes', async () => {
  const c = await json<Completion>(await s.post('/v1/completions', { prompt: '#tail' }));
  assert.equal(c.choices[0]!.text, 'ab<TOOLCALL>[{"name": "f", "arguments": {}}]</TOOLCALL>');
  const r = await json<ChatCompletion>(await s.post(CHAT, chat('#tail', { tools: [{ type: 'function', function: { name: 'f' } }] })));
  assert.equal(r.choices[0]!.message.content, 'ab');
  assert.equal(r.choices[0]!.message.tool_calls?.[0]?.function.name, 'f');
  const cs = await chunks(await s.post(CHAT, chat('#tail', { stream: true })));
  assert.equal(cs.map((x) => x.choices[0]?.delta.content ?? '').join(''), 'ab<TOOLCALL>[{"name": "f", "arguments": {}}]</TOOLCALL>'); // SERVE.6
});

test('reasoning: <think> … </think> → reasoning_content, streamed as reasoning deltas', async () => {
  const r = await json<ChatCompletion>(await s.post(CHAT, chat('#think')));
  assert.equal(r.choices[0]!.message.reasoning_content, 'short plan');
  assert.equal(r.choices[0]!.message.content, 'The answer is 4.');
  const cs = await chunks(await s.post(CHAT, chat('#think', { stream: true })));
  assert.equal(cs.map((x) => x.choices[0]?.delta.reasoning_content ?? '').join(''), 'short plan');
  assert.equal(cs.map((x) => x.choices[0]?.delta.content ?? '').join(''), 'The answer is 4.'); // SERVE.2
});

test('logprobs: one entry per token, chat and completions, streamed and not', async () => {
  const r = await json<ChatCompletion>(await s.post(CHAT, chat('#slow', { logprobs: true, top_logprobs: 2 })));
  const lp = r.choices[0]!.logprobs!.content;
  assert.equal(lp.length, 4);
  assert.equal(lp[0]!.top_logprobs.length, 2);
  assert.equal(lp[0]!.logprob, -0.5);
  assert.deepEqual(lp[0]!.bytes, [...new TextEncoder().encode(lp[0]!.token)]);
  const cs = await chunks(await s.post(CHAT, chat('#slow', { logprobs: true, top_logprobs: 2, stream: true })));
  assert.equal(cs.flatMap((x) => x.choices[0]?.logprobs?.content ?? []).length, 4);
  const c = await json<Completion>(await s.post('/v1/completions', { prompt: '#slow', logprobs: 2 }));
  const legacy = c.choices[0]!.logprobs!;
  assert.equal(legacy.tokens.length, 4);
  assert.deepEqual(legacy.token_logprobs, [-0.5, -0.5, -0.5, -0.5]);
  assert.equal(Object.keys(legacy.top_logprobs[0]!).length, 2);
  assert.equal(legacy.text_offset[0], 0);
  const off = await json<Completion>(await s.post('/v1/completions', { prompt: '#slow' }));
  assert.equal(off.choices[0]!.logprobs, null); // SERVE.6
});

test('streamed completions with n = 2 interleave choices and each assembles', async () => {
  const res = await s.post('/v1/completions', { prompt: '#slow', n: 2, stream: true, stream_options: { include_usage: true } });
  assert.equal(res.status, 200);
  const cs = sseEvents(await res.text()) as Completion[];
  for (const i of [0, 1]) {
    const mine = cs.filter((c) => c.choices[0]?.index === i);
    assert.equal(mine.map((c) => c.choices[0]!.text).join(''), 'abcd');
    assert.equal(mine[mine.length - 1]!.choices[0]!.finish_reason, 'stop');
  }
  assert.equal(cs[cs.length - 1]!.usage?.completion_tokens, 8); // SERVE.6
});

async function waitAborted(p: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('service request was not aborted')), 5000)));
  try {
    await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('client disconnect mid-stream aborts the service request', async () => {
  const before = s.service.calls.length;
  const ac = new AbortController();
  const res = await fetch(s.url + CHAT, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('#hang', { stream: true })), signal: ac.signal });
  const reader = res.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /^data: /);
  ac.abort();
  const call = s.service.calls[before]!;
  await waitAborted(call.aborted);
  assert.equal(call.completed, false); // SERVE.9
});

test('client disconnect before a non-streamed answer aborts the service request', async () => {
  const before = s.service.calls.length;
  const ac = new AbortController();
  const pending = fetch(s.url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: '#hang', n: 2 }), signal: ac.signal }).catch(() => undefined);
  while (s.service.calls.length < before + 2) await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  await pending;
  await Promise.all(s.service.calls.slice(before).map((c) => waitAborted(c.aborted)));
  for (let i = 0; i < 100 && s.service.stats().running > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(s.service.stats().running, 0); // SERVE.9
  const metrics = await (await fetch(s.url + '/metrics')).text();
  assert.match(metrics, /^tandem:request_success_total\{finished_reason="abort",model_name="fake-model"\} [1-9]/m); // SERVE.11
  const ok = await json<Completion>(await s.post('/v1/completions', { prompt: 'Hello' }));
  assert.equal(ok.choices[0]!.text, 'Hello world!');
});

test('models, health and metrics', async () => {
  const models = await json<{ object: string; data: { id: string; object: string; max_model_len: number }[] }>(await fetch(s.url + '/v1/models'));
  assert.deepEqual(models.data.map((m) => [m.id, m.object, m.max_model_len]), [['fake-model', 'model', 128]]);
  assert.equal(models.object, 'list');
  const health = await json<{ status: string }>(await fetch(s.url + '/health'));
  assert.equal(health.status, 'ok');
  const res = await fetch(s.url + '/metrics');
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  for (const name of [
    'tandem:num_requests_running',
    'tandem:num_requests_waiting',
    'tandem:prompt_tokens_total',
    'tandem:generation_tokens_total',
    'tandem:request_success_total',
    'tandem:time_to_first_token_seconds',
    'tandem:inter_token_latency_seconds',
    'tandem:e2e_request_latency_seconds',
    'tandem:prefix_cache_queries_total',
    'tandem:prefix_cache_hits_total',
    'tandem:num_live_states',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.match(text, /^tandem:request_success_total\{finished_reason="stop",model_name="fake-model"\} [1-9]/m);
  assert.match(text, /^tandem:time_to_first_token_seconds_count\{model_name="fake-model"\} [1-9]/m);
  assert.match(text, /^tandem:num_requests_running\{model_name="fake-model"\} 0$/m); // SERVE.11
});
