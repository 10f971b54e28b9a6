/**
 * The server as OpenAI's official client sees it: first over a scripted fake service (shape, streaming, errors,
 * API key), then end to end over the dense golden model with the LocalEngine (greedy output equals `tandem run`,
 * concurrent requests equal sequential ones).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import OpenAI from 'openai';
import { LocalEngine } from '../src/engine/engine.js';
import { loadModel } from '../src/engine/load-model.js';
import { startServer, type RunningServer } from '../src/serving/server.js';
import { textScript } from '../src/testing/fake-service.js';
import { goldenDir } from '../src/testing/golden.js';
import { startFakeServer, type FakeServer } from '../src/testing/serve-fixture.js';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { assertOk, assertUserError, CLI, cli, cliAsync } from './cli-helpers.js';

const client = (url: string, apiKey = 'unused'): OpenAI => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });

describe('official client over a fake service', () => {
  let s: FakeServer;
  let openai: OpenAI;
  before(async () => {
    s = await startFakeServer({ maxContext: 64, script: () => textScript(['Hello', ' from', ' tandem']) });
    openai = client(s.url);
  });
  after(() => s.close());

  test('chat, not streamed', async () => {
    const r = await openai.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8 });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0]!.message.role, 'assistant');
    assert.equal(r.choices[0]!.message.content, 'Hello from tandem');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.equal(r.usage?.completion_tokens, 3);
    assert.equal(r.usage?.prompt_tokens_details?.cached_tokens, 0); // SERVE.6
  });

  test('chat, streamed: deltas assemble to the same text; a usage chunk with include_usage', async () => {
    const stream = await openai.chat.completions.create({
      model: 'fake-model', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'Hello from tandem');
    assert.equal(finish, 'stop');
    assert.deepEqual([usage?.completion_tokens, usage?.total_tokens], [3, (usage?.prompt_tokens ?? 0) + 3]); // SERVE.6
  });

  test('completions and models', async () => {
    const r = await openai.completions.create({ model: 'fake-model', prompt: 'Hello', max_tokens: 2 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0]!.text, 'Hello from');
    assert.equal(r.choices[0]!.finish_reason, 'length');
    const models = await openai.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['fake-model']); // SERVE.6
  });

  test('errors surface as the client\'s typed errors with status, code and param', async () => {
    const bad = await openai.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'x' }], temperature: -1 }).catch((e: unknown) => e);
    assert.ok(bad instanceof OpenAI.BadRequestError);
    assert.deepEqual([bad.status, bad.code, bad.param, bad.type], [400, 'invalid_value', 'temperature', 'invalid_request_error']);
    const long = await openai.completions.create({ model: 'fake-model', prompt: 'word '.repeat(100) }).catch((e: unknown) => e);
    assert.ok(long instanceof OpenAI.BadRequestError);
    assert.equal(long.code, 'context_length_exceeded');
    const missing = await openai.completions.create({ model: 'nope', prompt: 'x' }).catch((e: unknown) => e);
    assert.ok(missing instanceof OpenAI.NotFoundError);
    assert.equal(missing.code, 'model_not_found');
    s.service.full = 2;
    const busy = await openai.completions.create({ model: 'fake-model', prompt: 'x' }).catch((e: unknown) => e);
    s.service.full = undefined;
    assert.ok(busy instanceof OpenAI.RateLimitError);
    assert.equal(busy.headers.get('retry-after'), '2'); // SERVE.10
    const ok = await openai.completions.create({ model: 'fake-model', prompt: 'x', max_tokens: 1 });
    assert.equal(ok.choices[0]!.text, 'Hello'); // SERVE.7
  });

  test('API key: 401 without or with a wrong key, 200 with the right one', async () => {
    const locked = await startFakeServer({ apiKey: 'sk-test-key' });
    try {
      for (const key of ['', 'sk-wrong']) {
        const e = await new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: key, maxRetries: 0 }).models.list().catch((x: unknown) => x);
        assert.ok(e instanceof OpenAI.AuthenticationError, `key "${key}"`);
        assert.equal(e.code, 'invalid_api_key');
      }
      const models = await client(locked.url, 'sk-test-key').models.list();
      assert.equal(models.data[0]!.id, 'fake-model'); // SERVE.8
    } finally {
      await locked.close();
    }
  });
});

describe('end to end on tests/golden/dense with the LocalEngine', () => {
  const model = join(goldenDir(), 'dense');
  let server: RunningServer;
  let engine: LocalEngine;
  let openai: OpenAI;
  before(async () => {
    const loaded = loadModel(model);
    engine = new LocalEngine(loaded, { maxRunning: 8 });
    server = await startServer({ service: engine, tokenizer: loaded.tokenizer() });
    openai = client(server.url);
  });
  after(async () => {
    await server.close();
    await engine.close();
  });

  const greedy = async (prompt: string, maxTokens = 16): Promise<string> => {
    const r = await openai.completions.create({ model: engine.modelName, prompt, max_tokens: maxTokens, temperature: 0 });
    return r.choices[0]!.text;
  };

  test('greedy /v1/completions equals `tandem run`; chat equals `tandem run --chat`', async () => {
    const [run, chatRun] = await Promise.all([
      cliAsync(['run', '--model', model, '--prompt', 'Hello', '--max-tokens', '16']),
      cliAsync(['run', '--model', model, '--prompt', 'Hello', '--max-tokens', '16', '--chat', '--system', 'Be brief.']),
    ]);
    assertOk(run);
    assertOk(chatRun);
    assert.equal(await greedy('Hello'), run.stdout.slice(0, -1)); // SERVE.12
    const chat = await openai.chat.completions.create({
      model: engine.modelName, max_tokens: 16, temperature: 0,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }],
    });
    assert.equal(chat.choices[0]!.message.content, chatRun.stdout.slice(0, -1)); // SERVE.1
  });

  test('streamed text equals the whole response', async () => {
    const whole = await greedy('A hybrid model', 12);
    const stream = await openai.completions.create({ model: engine.modelName, prompt: 'A hybrid model', max_tokens: 12, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, whole); // SERVE.6
  });

  test('8 concurrent greedy requests each equal their sequential result', async () => {
    const prompts = ['Hello', 'Hello world', 'A hybrid', 'The state', 'Tokens are', 'memory', 'attention layers', 'When the model'];
    const sequential: string[] = [];
    for (const p of prompts) sequential.push(await greedy(p, 10));
    const concurrent = await Promise.all(prompts.map((p) => greedy(p, 10)));
    assert.deepEqual(concurrent, sequential); // SERVE.12
    const seeded = await openai.completions.create({ model: engine.modelName, prompt: 'Hello', max_tokens: 8, temperature: 0.9, seed: 5, n: 2 });
    const again = await openai.completions.create({ model: engine.modelName, prompt: 'Hello', max_tokens: 8, temperature: 0.9, seed: 5, n: 2 });
    assert.deepEqual(again.choices.map((c) => c.text), seeded.choices.map((c) => c.text), 'same seed, same samples'); // SERVE.3
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^tandem:num_live_states\{model_name="dense"\} 0$/m, 'no state leaked'); // SERVE.11
  });
});

describe('tandem serve (the CLI)', () => {
  const model = join(goldenDir(), 'dense');

  test('prints the URL, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', model, '--port', '0'], { env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /listening on (http:\/\/\S+?) /.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited early (${code}): ${out} ${err}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const r = await client(url).completions.create({ model: 'dense', prompt: 'Hello', max_tokens: 4, temperature: 0 });
      assert.equal(r.choices[0]!.finish_reason === 'length' || r.choices[0]!.finish_reason === 'stop', true);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0); // SERVE.12
  });

  test('bad --workers and a busy port are one-line errors', async () => {
    assertUserError(cli(['serve', '--model', model, '--workers', 'prefill=1']), /--workers needs decode=M/, { code: 'BAD_ARGUMENT' });
    assertUserError(cli(['serve', '--model', model, '--workers', 'gpu=2']), /prefill=N,decode=M/, { code: 'BAD_ARGUMENT' });
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as { port: number }).port;
      assertUserError(await cliAsync(['serve', '--model', model, '--port', String(port)]), /EADDRINUSE.*--port/, { code: 'BAD_ARGUMENT' }); // SERVE.7
    } finally {
      busy.close();
    }
  });
});
