/**
 * The error taxonomy over raw HTTP (fake service): status, OpenAI error shape, the checklist's codes and params,
 * and a good request answered after every error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeServer, type FakeServer } from '../../testing/serve-fixture.js';
import { textScript } from '../../testing/fake-service.js';

let s: FakeServer;
before(async () => {
  s = await startFakeServer({ maxContext: 64 });
});
after(() => s.close());

const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: 'fake-model', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ...extra });
const comp = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: 'fake-model', prompt: 'Hello', max_tokens: 4, ...extra });

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function expectError(res: Response, status: number, code: string, param: string | null): Promise<ErrorBody> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = JSON.parse(text) as ErrorBody;
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.code, code, text);
  assert.equal(body.error.param, param, text);
  assert.equal(body.error.type, status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error');
  assert.ok(body.error.message.length > 0);
  return body;
}

/** The server still answers a good request. */
async function stillServes(): Promise<void> {
  const res = await s.post(COMPLETIONS, comp());
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(((await res.json()) as { choices: { text: string }[] }).choices[0]!.text, 'Hello world');
}

const long = 'hello world '.repeat(80);

const CASES: readonly [string, string, unknown, number, string, string | null][] = [
  ['malformed JSON', CHAT, '{"messages": [', 400, 'invalid_json', null],
  ['body not an object', COMPLETIONS, '[1, 2]', 400, 'invalid_json', null],
  ['wrong-typed known field', CHAT, chat({ temperature: 'hot' }), 400, 'invalid_type', 'temperature'],
  ['wrong-typed nested field', CHAT, chat({ messages: [{ role: 'user', content: 5 }] }), 400, 'invalid_type', 'messages[0].content'],
  ['unknown role', CHAT, chat({ messages: [{ role: 'wizard', content: 'x' }] }), 400, 'invalid_type', 'messages[0].role'],
  ['missing messages', CHAT, { model: 'fake-model' }, 400, 'missing_required_parameter', 'messages'],
  ['non-integer n', COMPLETIONS, comp({ n: 1.5 }), 400, 'invalid_type', 'n'],
  ['unknown model', CHAT, chat({ model: 'gpt-9' }), 404, 'model_not_found', 'model'],
  ['empty messages', CHAT, chat({ messages: [] }), 400, 'invalid_value', 'messages'],
  ['empty prompt', COMPLETIONS, comp({ prompt: '' }), 400, 'invalid_value', 'prompt'],
  ['image content part', CHAT, chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), 400, 'unsupported_value', 'messages[0].content[0].type'],
  ['n = 0', COMPLETIONS, comp({ n: 0 }), 400, 'invalid_value', 'n'],
  ['n = 17', CHAT, chat({ n: 17 }), 400, 'invalid_value', 'n'],
  ['max_tokens = 0', COMPLETIONS, comp({ max_tokens: 0 }), 400, 'invalid_value', 'max_tokens'],
  ['max_completion_tokens = 0', CHAT, chat({ max_completion_tokens: 0 }), 400, 'invalid_value', 'max_completion_tokens'],
  ['temperature < 0', CHAT, chat({ temperature: -0.5 }), 400, 'invalid_value', 'temperature'],
  ['top_p = 0', COMPLETIONS, comp({ top_p: 0 }), 400, 'invalid_value', 'top_p'],
  ['top_p > 1', CHAT, chat({ top_p: 1.5 }), 400, 'invalid_value', 'top_p'],
  ['top_k = -2', COMPLETIONS, comp({ top_k: -2 }), 400, 'invalid_value', 'top_k'],
  ['min_p > 1', COMPLETIONS, comp({ min_p: 2 }), 400, 'invalid_value', 'min_p'],
  ['repetition_penalty = 0', CHAT, chat({ repetition_penalty: 0 }), 400, 'invalid_value', 'repetition_penalty'],
  ['empty stop string', COMPLETIONS, comp({ stop: ['ok', ''] }), 400, 'invalid_value', 'stop'],
  ['top_logprobs without logprobs', CHAT, chat({ top_logprobs: 2 }), 400, 'invalid_value', 'top_logprobs'],
  ['top_logprobs = 21', CHAT, chat({ logprobs: true, top_logprobs: 21 }), 400, 'invalid_value', 'top_logprobs'],
  ['completions logprobs = 21', COMPLETIONS, comp({ logprobs: 21 }), 400, 'invalid_value', 'logprobs'],
  ['stream_options without stream', CHAT, chat({ stream_options: { include_usage: true } }), 400, 'invalid_value', 'stream_options'],
  ['tool_choice required', CHAT, chat({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'required' }), 400, 'unsupported_value', 'tool_choice'],
  ['tool_choice names an unknown tool', CHAT, chat({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }), 400, 'invalid_value', 'tool_choice'],
  ['duplicate tool names', CHAT, chat({ tools: [{ type: 'function', function: { name: 'f' } }, { type: 'function', function: { name: 'f' } }] }), 400, 'invalid_value', 'tools[1].function.name'],
  ['echo', COMPLETIONS, comp({ echo: true }), 400, 'unsupported_value', 'echo'],
  ['token id outside the vocabulary', COMPLETIONS, comp({ prompt: [1, 99999] }), 400, 'invalid_value', 'prompt'],
  ['prompt beyond the context', COMPLETIONS, comp({ prompt: long, max_tokens: undefined }), 400, 'context_length_exceeded', 'prompt'],
  ['prompt + max_tokens beyond the context', CHAT, chat({ max_tokens: 60 }), 400, 'context_length_exceeded', 'messages'],
  ['second prompt of a batch beyond the context', COMPLETIONS, comp({ prompt: ['a', long] }), 400, 'context_length_exceeded', 'prompt'],
];

for (const [name, path, body, status, code, param] of CASES) {
  test(`${status} ${code}: ${name}; the server keeps serving`, async () => {
    await expectError(await s.post(path, body), status, code, param);
    await stillServes(); // SERVE.7
  });
}

test('unknown fields are ignored', async () => {
  const res = await s.post(CHAT, chat({ frobnicate: { deep: [1] }, logit_bias: { '5': 1 }, response_format: { type: 'text' } }));
  assert.equal(res.status, 200); // SERVE.7
});

test('413 for a body over 4 MiB, content-length and chunked', async () => {
  const big = JSON.stringify(comp({ prompt: 'x'.repeat(4 * 1024 * 1024) }));
  await expectError(await s.post(COMPLETIONS, big), 413, 'request_too_large', null);
  const chunks = new ReadableStream<Uint8Array>({
    start(c) {
      const piece = new TextEncoder().encode(big.slice(0, 1024 * 1024));
      for (let i = 0; i < 5; i++) c.enqueue(piece);
      c.close();
    },
  });
  const res = await fetch(s.url + COMPLETIONS, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunks, duplex: 'half' } as RequestInit);
  await expectError(res, 413, 'request_too_large', null);
  await stillServes(); // SERVE.7
});

test('429 with Retry-After while the service is full, then serves again', async () => {
  s.service.full = 3;
  try {
    const res = await s.post(CHAT, chat());
    assert.equal(res.headers.get('retry-after'), '3');
    await expectError(res, 429, 'server_at_capacity', null);
    const metrics = await (await fetch(s.url + '/metrics')).text();
    assert.match(metrics, /^tandem:request_rejected_total\{model_name="fake-model"\} [1-9]/m);
  } finally {
    s.service.full = undefined;
  }
  await stillServes(); // SERVE.10
});

test('404 in the OpenAI shape for an unknown route, method or model card', async () => {
  await expectError(await fetch(s.url + '/v1/engines'), 404, 'not_found', null);
  await expectError(await fetch(s.url + COMPLETIONS), 404, 'not_found', null);
  await expectError(await fetch(s.url + '/v1/models/other'), 404, 'model_not_found', 'model');
  const card = (await (await fetch(s.url + '/v1/models/fake-model')).json()) as { id: string };
  assert.equal(card.id, 'fake-model'); // SERVE.7
});

test('an error event before the first token answers with its status; after it, the stream carries it', async () => {
  const svc = await startFakeServer({
    script: (req) =>
      req.prompt.length > 3
        ? [{ type: 'token', token: 10, text: 'a' }, { type: 'error', status: 503, code: 'worker_lost', message: 'decode worker exited' }]
        : [{ type: 'error', status: 503, code: 'worker_lost', message: 'decode worker exited' }],
  });
  try {
    await expectError(await svc.post(COMPLETIONS, comp({ prompt: 'a' })), 503, 'worker_lost', null);
    await expectError(await svc.post(COMPLETIONS, comp({ prompt: 'a long enough prompt' })), 503, 'worker_lost', null);
    const res = await svc.post(COMPLETIONS, comp({ prompt: 'a long enough prompt', stream: true }));
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.match(body, /data: \{"error":\{"message":"decode worker exited","type":"server_error","param":null,"code":"worker_lost"\}\}\n\ndata: \[DONE\]\n\n$/); // SERVE.7
  } finally {
    await svc.close();
  }
});

test('a failure inside the service is a 500 that hides the internals', async () => {
  const svc = await startFakeServer();
  svc.service.submit = () => {
    throw new Error('secret internal detail');
  };
  const log = console.error;
  console.error = () => undefined;
  try {
    const body = await expectError(await svc.post(CHAT, chat()), 500, 'internal_error', null);
    assert.doesNotMatch(body.error.message, /secret/); // SERVE.7
  } finally {
    console.error = log;
    await svc.close();
  }
});

test('API key: 401 without or with a wrong key on /v1; health and metrics stay open', async () => {
  const svc = await startFakeServer({ apiKey: 'sk-right', script: () => textScript(['ok']) });
  try {
    await expectError(await svc.post(CHAT, chat()), 401, 'invalid_api_key', null);
    await expectError(await svc.post(CHAT, chat(), { authorization: 'Bearer sk-wrong' }), 401, 'invalid_api_key', null);
    await expectError(await svc.post(CHAT, chat(), { authorization: 'sk-right' }), 401, 'invalid_api_key', null);
    await expectError(await fetch(svc.url + '/v1/models'), 401, 'invalid_api_key', null);
    assert.equal((await svc.post(CHAT, chat(), { authorization: 'Bearer sk-right' })).status, 200);
    assert.equal((await fetch(svc.url + '/health')).status, 200);
    assert.equal((await fetch(svc.url + '/metrics')).status, 200); // SERVE.8
  } finally {
    await svc.close();
  }
});

test('errors are counted in tandem:request_errors_total by code', async () => {
  const metrics = await (await fetch(s.url + '/metrics')).text();
  assert.match(metrics, /^tandem:request_errors_total\{code="invalid_json",model_name="fake-model"\} [1-9]/m);
  assert.match(metrics, /^tandem:request_errors_total\{code="context_length_exceeded",model_name="fake-model"\} [1-9]/m); // SERVE.11
});
