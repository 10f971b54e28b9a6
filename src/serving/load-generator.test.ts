/**
 * The load generator against a fake OpenAI-compatible SSE server (node:http on 127.0.0.1) whose token timings,
 * failures and usage are scripted per request: statistics come out as scripted (within timer slack), errors are
 * counted by kind, the concurrency limit holds at the server, the JSON keys are stable, SIGINT/abort and timeouts
 * stop requests, and the CLI (`tandem bench serve`) prints the same report.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isTandemError } from '../errors.js';
import {
  BENCH_SERVE_KEYS, makePrompt, normalizeBaseUrl, percentile, resolveLoadOptions, runLoad, sseEvents,
  type BenchServeReport,
} from './load-generator.js';
import { spawnCli, type CliRun } from '../testing/cli-process.js';

// ── the fake server ────────────────────────────────────────────────────────────────────────────────────────────────

interface Script {
  /** Non-200: answer with this status and an OpenAI error body. */
  readonly status?: number;
  /** Never answer (for timeouts). */
  readonly hang?: boolean;
  readonly ttftMs?: number;
  /** Gaps between tokens; tokens sent = gaps + 1. */
  readonly gapsMs?: readonly number[];
  /** Send an error event after this many tokens. */
  readonly errorAfter?: number;
  /** Send the usage chunk (default true). */
  readonly usage?: boolean;
  /** Text of token i (default " w{i}"); "" tests tokens whose text is held back. */
  readonly text?: (i: number) => string;
}

interface Fake {
  readonly url: string;
  readonly bodies: Array<Record<string, unknown>>;
  readonly headers: IncomingMessage['headers'][];
  readonly stats: { arrivals: number; inFlight: number; maxInFlight: number; disconnects: number };
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sse = (res: ServerResponse, data: unknown): boolean => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
const wordCount = (prompt: unknown): number => (typeof prompt === 'string' ? prompt.split(' ').length : 0);

/** Streams one scripted completion; usage.prompt_tokens = 2 × prompt words. */
async function stream(res: ServerResponse, body: Record<string, unknown>, s: Script, closed: () => boolean): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const gaps = s.gapsMs ?? [];
  await sleep(s.ttftMs ?? 0);
  for (let i = 0; i <= gaps.length && !closed(); i++) {
    if (i > 0) await sleep(gaps[i - 1]!);
    if (s.errorAfter === i) {
      sse(res, { error: { message: 'scripted failure', type: 'server_error', code: 500 } });
      return void res.end();
    }
    sse(res, { id: 'c', object: 'text_completion', choices: [{ index: 0, text: s.text?.(i) ?? ` w${i}`, finish_reason: null }] });
  }
  sse(res, { id: 'c', object: 'text_completion', choices: [{ index: 0, text: '', finish_reason: 'length' }] });
  if (s.usage !== false) {
    const usage = { prompt_tokens: 2 * wordCount(body.prompt), completion_tokens: gaps.length + 1 };
    sse(res, { id: 'c', object: 'text_completion', choices: [], usage });
  }
  sse(res, '[DONE]');
  res.end();
}

async function fakeServer(script: (arrival: number) => Script): Promise<Fake> {
  const stats = { arrivals: 0, inFlight: 0, maxInFlight: 0, disconnects: 0 };
  const bodies: Array<Record<string, unknown>> = [];
  const headers: IncomingMessage['headers'][] = [];
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake-model', object: 'model' }] }));
    }
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      const s = script(stats.arrivals++);
      bodies.push(body);
      headers.push(req.headers);
      stats.maxInFlight = Math.max(stats.maxInFlight, ++stats.inFlight);
      let closed = false;
      res.on('close', () => {
        stats.inFlight--;
        if (!res.writableFinished) stats.disconnects++;
        closed = true;
      });
      if (s.hang) return;
      if (s.status !== undefined) {
        res.writeHead(s.status, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ error: { message: `scripted ${s.status}`, type: 'server_error' } }));
      }
      void stream(res, body, s, () => closed);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, bodies, headers, stats,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const servers: Fake[] = [];
async function serve(script: (arrival: number) => Script): Promise<Fake> {
  const f = await fakeServer(script);
  servers.push(f);
  return f;
}
after(() => Promise.all(servers.map((s) => s.close())));

/** Scripted values arrive late by timer overshoot and scheduling, never early. */
/**
 * A measured latency against the fake server's scripted one. The server's delays are lower bounds (timers never fire
 * early, up to 2 ms of timer granularity); the upper bound only guards against gross errors (units, wrong timestamps),
 * because a loaded CI machine can delay any callback by hundreds of ms. `slack` is the bound on an idle machine,
 * printed for information.
 */
function near(actual: number | null, expected: number | null, what: string, slack = 30): void {
  assert.ok(actual !== null && expected !== null, `${what}: ${actual} vs ${expected}`);
  assert.ok(actual >= expected - 2 && actual <= expected + 2000, `${what}: measured ${actual.toFixed(2)} ms, scripted ${expected.toFixed(2)} ms`);
  if (actual > expected + slack) console.log(`${what}: ${actual.toFixed(2)} ms is ${(actual - expected).toFixed(0)} ms over the script (machine under load?)`);
}

// ── statistics and options ─────────────────────────────────────────────────────────────────────────────────────────

test('percentile interpolates linearly like numpy (np.percentile default)', () => {
  assert.equal(percentile([4, 1, 3, 2], 50), 2.5);
  assert.ok(Math.abs(percentile([1, 2, 3, 4], 90)! - 3.7) < 1e-12);
  assert.ok(Math.abs(percentile([1, 2, 3, 4], 99)! - 3.97) < 1e-12);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([], 50), null);
});

test('options: defaults, one-line BAD_ARGUMENT errors, URL normalization', () => {
  const o = resolveLoadOptions({ url: 'http://127.0.0.1:8000/v1/' });
  assert.deepEqual([o.url, o.concurrency, o.requests, o.promptTokens, o.outputTokens, o.seed, o.warmup], ['http://127.0.0.1:8000', 1, 100, 256, 128, 0, 1]);
  assert.equal(normalizeBaseUrl('https://h.example/api/'), 'https://h.example/api');
  const bad: Array<[Parameters<typeof resolveLoadOptions>[0], RegExp]> = [
    [{ url: 'http://h', concurrency: 0 }, /--concurrency must be an integer ≥ 1, got 0/],
    [{ url: 'http://h', requests: 1.5 }, /--requests/],
    [{ url: 'http://h', timeoutS: 0 }, /--timeout/],
    [{ url: 'localhost:8000' }, /--url must be an http\(s\) URL/],
    [{ url: 'not a url' }, /--url must be an http\(s\) URL/],
    [{ url: 'http://h?x=1' }, /query/],
  ];
  for (const [opts, msg] of bad) {
    assert.throws(() => resolveLoadOptions(opts), (e: unknown) => isTandemError(e) && e.code === 'BAD_ARGUMENT' && msg.test(e.message) && !e.message.includes('\n'));
  }
});

test('prompts are deterministic in (seed, index), distinct per request, and have the asked word count', () => {
  assert.equal(makePrompt(3, 5, 40), makePrompt(3, 5, 40));
  assert.notEqual(makePrompt(3, 5, 40), makePrompt(3, 6, 40));
  assert.notEqual(makePrompt(3, 5, 40), makePrompt(4, 5, 40));
  assert.equal(wordCount(makePrompt(0, 0, 77)), 77);
  assert.match(makePrompt(0, 0, 20), /^[a-z]+( [a-z]+){19}$/);
});

test('SSE parsing: CRLF, comments, multi-line data, events split across reads', async () => {
  const text = ': keep-alive\r\n\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: error\ndata: x\n\ndata: [DONE]\n\n';
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 7) c.enqueue(bytes.slice(i, i + 7));
      c.close();
    },
  });
  const got = [];
  for await (const ev of sseEvents(body)) got.push(ev);
  assert.deepEqual(got, [{ event: 'message', data: '{"a":\n1}' }, { event: 'error', data: 'x' }, { event: 'message', data: '[DONE]' }]);
});

// ── runs against the fake server ───────────────────────────────────────────────────────────────────────────────────

/** Arrival 0 is the warm-up; measured request j = arrival − 1. j = 3 answers HTTP 500, j = 7 errors mid-stream. */
const TTFT = (j: number): number => 30 + 5 * j;
const GAPS = [10, 10, 10, 40];
const OK_J = [0, 1, 2, 4, 5, 6, 8, 9, 10, 11];

test('scripted run: percentiles, counts, errors by kind, concurrency limit, calibrated prompt length, request shape', async () => {
  const fake = await serve((a) => {
    const j = a - 1;
    if (a === 0) return { ttftMs: 5, gapsMs: [5, 5, 5, 5] };
    if (j === 3) return { status: 500 };
    if (j === 7) return { ttftMs: 20, gapsMs: GAPS, errorAfter: 2 };
    return { ttftMs: TTFT(j), gapsMs: GAPS };
  });
  const r = await runLoad({ url: fake.url, concurrency: 3, requests: 12, promptTokens: 100, outputTokens: 5, seed: 1 });

  assert.equal(fake.stats.arrivals, 13);
  assert.equal(fake.stats.maxInFlight, 3, 'the server never sees more than --concurrency requests');
  assert.equal(r.peak_concurrency, 3);
  assert.deepEqual([r.completed, r.failed, r.error_kinds], [10, 2, { http_500: 1, stream_error: 1 }]);
  assert.deepEqual(r.error_examples, { http_500: 'HTTP 500: scripted 500', stream_error: 'scripted failure' });
  assert.deepEqual([r.model, r.num_prompts, r.max_concurrency, r.warmup_requests, r.interrupted], ['fake-model', 12, 3, 1, false]);
  // Warm-up: round(100 / 1.3) = 77 words → 154 tokens → 2 tokens/word → 50-word prompts → exactly 100 prompt tokens.
  assert.equal(wordCount(fake.bodies[0]!.prompt), 77);
  assert.equal(r.tokens_per_word, 2);
  assert.deepEqual([r.mean_input_tokens, r.total_input_tokens, r.mean_output_tokens, r.total_output_tokens], [100, 1000, 5, 50]);
  const b = fake.bodies[1]!;
  assert.deepEqual(
    { ...b, prompt: wordCount(b.prompt) },
    { model: 'fake-model', prompt: 50, max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true }, ignore_eos: true },
  );
  assert.equal(new Set(fake.bodies.map((x) => x.prompt)).size, 13, 'every prompt differs');

  const ttfts = OK_J.map(TTFT);
  for (const s of ['mean', 'p50', 'p90', 'p99'] as const) {
    const want = s === 'mean' ? ttfts.reduce((x, y) => x + y) / ttfts.length : percentile(ttfts, Number(s.slice(1)));
    near(r[`${s}_ttft_ms`], want, `${s} TTFT`);
    near(r[`${s}_ttst_ms`], want! + 10, `${s} TTST`);
    near(r[`${s}_e2el_ms`], want! + 70, `${s} E2E`, 45);
  }
  // ITL pool: per request gaps 10, 10, 10, 40 → 30 × 10 ms and 10 × 40 ms.
  near(r.p50_itl_ms, 10, 'p50 ITL');
  near(r.p90_itl_ms, 40, 'p90 ITL');
  near(r.p99_itl_ms, 40, 'p99 ITL');
  near(r.mean_itl_ms, 17.5, 'mean ITL', 15);
  near(r.mean_tpot_ms, 17.5, 'mean TPOT', 15); // (E2E − TTFT) / (5 − 1) = 70 / 4
  assert.ok(r.p90_itl_ms! - r.p50_itl_ms! > 15, 'the 40 ms gaps show in the tail only');
  const expectSecs = r.duration;
  assert.ok(Math.abs(r.request_throughput - 10 / expectSecs) < 1e-9 && Math.abs(r.output_throughput - 50 / expectSecs) < 1e-9);
  assert.ok(Math.abs(r.total_token_throughput - 1050 / expectSecs) < 1e-9);
});

test('JSON keys are stable and documented (tandem.bench.serve/1)', async () => {
  const fake = await serve(() => ({ ttftMs: 1, gapsMs: [1] }));
  const r = await runLoad({ url: fake.url, requests: 2, outputTokens: 2, warmup: 0, model: 'm' });
  const latency = ['ttft', 'ttst', 'tpot', 'itl', 'e2el'].flatMap((m) => ['mean', 'std', 'min', 'max', 'median', 'p50', 'p90', 'p99'].map((s) => `${s}_${m}_ms`));
  const keys = [
    'schema', 'date', 'url', 'model', 'num_prompts', 'max_concurrency', 'peak_concurrency', 'target_input_tokens',
    'target_output_tokens', 'tokens_per_word', 'seed', 'timeout_s', 'warmup_requests', 'interrupted', 'duration',
    'completed', 'failed', 'error_kinds', 'error_examples', 'total_input_tokens', 'total_output_tokens', 'mean_input_tokens',
    'mean_output_tokens', 'request_throughput', 'output_throughput', 'total_token_throughput', ...latency,
  ];
  assert.deepEqual(Object.keys(r), keys);
  assert.deepEqual(BENCH_SERVE_KEYS, keys);
  assert.equal(r.schema, 'tandem.bench.serve/1');
  assert.equal(r.tokens_per_word, 1.3, 'no warm-up: the 1.3 guess is kept');
  assert.equal(JSON.parse(JSON.stringify(r)).completed, 2);
});

test('without usage, output tokens are token chunks (held-back empty text counts, finish-only chunk does not); API key sent', async () => {
  const fake = await serve(() => ({ ttftMs: 2, gapsMs: [2, 2, 2], usage: false, text: (i) => (i === 1 ? '' : 'x') }));
  const r = await runLoad({ url: fake.url, requests: 3, concurrency: 2, outputTokens: 4, warmup: 1, model: 'mine', apiKey: 'sk-test' });
  assert.deepEqual([r.completed, r.mean_output_tokens, r.total_output_tokens, r.mean_input_tokens, r.total_input_tokens], [3, 4, 12, null, 0]);
  assert.equal(r.tokens_per_word, 1.3, 'no usage: no calibration');
  assert.equal(fake.headers[0]!.authorization, 'Bearer sk-test');
  assert.equal(fake.bodies[0]!.model, 'mine');
});

test('timeouts are counted; with nothing completed every latency is null', async () => {
  const fake = await serve(() => ({ hang: true }));
  const t0 = Date.now();
  const r = await runLoad({ url: fake.url, requests: 2, concurrency: 2, warmup: 0, model: 'm', timeoutS: 0.2 });
  assert.ok(Date.now() - t0 < 2000);
  assert.deepEqual([r.completed, r.failed, r.error_kinds], [0, 2, { timeout: 2 }]);
  assert.equal(r.p50_ttft_ms, null);
  assert.equal(r.mean_output_tokens, null);
  await sleep(50);
  assert.equal(fake.stats.disconnects, 2, 'timed-out requests are closed at the server');
});

test('aborting the signal (SIGINT) aborts every request in flight and sends no more', async () => {
  const fake = await serve(() => ({ ttftMs: 20, gapsMs: Array<number>(20).fill(100) }));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 150);
  const t0 = Date.now();
  const r = await runLoad({ url: fake.url, requests: 20, concurrency: 4, warmup: 0, model: 'm' }, { signal: ac.signal });
  assert.ok(Date.now() - t0 < 1500, 'returns promptly');
  assert.equal(r.interrupted, true);
  assert.deepEqual([r.completed, r.error_kinds], [0, { aborted: 4 }]);
  assert.equal(fake.stats.arrivals, 4);
  await sleep(50);
  assert.equal(fake.stats.disconnects, 4);
});

test('unreachable server, a model list without models, and a failed warm-up are one-line errors', async () => {
  const dead = await fakeServer(() => ({}));
  await dead.close();
  const oneLine = (re: RegExp) => (e: unknown) => isTandemError(e) && re.test(e.message) && !e.message.includes('\n');
  await assert.rejects(runLoad({ url: dead.url, requests: 1 }), oneLine(/cannot list models at .*\/v1\/models.*pass --model/));
  const empty = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}'));
  await new Promise<void>((r) => empty.listen(0, '127.0.0.1', r));
  const emptyUrl = `http://127.0.0.1:${(empty.address() as AddressInfo).port}`;
  await assert.rejects(runLoad({ url: emptyUrl, requests: 1 }), oneLine(/\/v1\/models lists no model; pass --model/));
  empty.close();
  const unauthorized = await serve(() => ({ status: 401 }));
  await assert.rejects(runLoad({ url: unauthorized.url, requests: 1 }), oneLine(/warm-up request .* failed \(http_401\): HTTP 401: scripted 401/));
});

// ── the CLI ────────────────────────────────────────────────────────────────────────────────────────────────────────

type Run = CliRun;

/** Spawns the CLI without blocking (the fake server lives in this process). */
function cli(args: string[], onSpawn?: (kill: (sig: NodeJS.Signals) => void) => void): Promise<Run> {
  return spawnCli(args, onSpawn ? { onSpawn } : {});
}

test('CLI: bench serve --json prints the report; the table names every metric', async () => {
  // Each CLI run is one warm-up + 4 requests: arrivals 2 and 7 answer HTTP 500.
  const fake = await serve((a) => (a % 5 === 2 ? { status: 500 } : { ttftMs: 5, gapsMs: [3, 3] }));
  const base = ['bench', 'serve', '--url', fake.url, '--requests', '4', '--concurrency', '2', '--prompt-tokens', '20', '--output-tokens', '3'];
  const j = await cli([...base, '--json']);
  assert.equal(j.status, 0, j.stderr);
  const r = JSON.parse(j.stdout) as BenchServeReport;
  assert.deepEqual(Object.keys(r), BENCH_SERVE_KEYS);
  assert.deepEqual([r.completed, r.failed, r.error_kinds, r.max_concurrency, r.model], [3, 1, { http_500: 1 }, 2, 'fake-model']);
  assert.equal(r.mean_input_tokens, 20);
  const t = await cli(base);
  assert.equal(t.status, 0, t.stderr);
  for (const label of ['TTFT', 'TTST', 'TPOT', 'ITL', 'E2E', 'Output token throughput', 'p99', 'http_500: 1']) assert.ok(t.stdout.includes(label), `${label} in\n${t.stdout}`);
});

test('CLI: bad flags are one-line BAD_ARGUMENT errors', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--url', 'http://127.0.0.1:9', '--concurrency', '0'], /^error\[BAD_ARGUMENT\]: --concurrency must be an integer ≥ 1, got "0"$/],
    [['--url', 'localhost:8000'], /^error\[BAD_ARGUMENT\]: --url must be an http\(s\) URL/],
    [['--url', 'http://127.0.0.1:9', '--timeout', '-1'], /^error\[BAD_ARGUMENT\]: --timeout must be a number of seconds > 0/],
  ];
  const rs = await Promise.all(cases.map(([args]) => cli(['bench', 'serve', ...args])));
  rs.forEach((r, i) => {
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), cases[i]![1]);
  });
});

test('CLI: SIGINT aborts in-flight requests, prints the partial report, exits 130', async () => {
  let kill: ((sig: NodeJS.Signals) => void) | undefined;
  const fake = await serve((a) => {
    if (a === 1) setTimeout(() => kill?.('SIGINT'), 100);
    return { ttftMs: 5, gapsMs: Array<number>(50).fill(100) };
  });
  const r = await cli(['bench', 'serve', '--url', fake.url, '--requests', '10', '--concurrency', '2', '--warmup', '0', '--json'], (k) => (kill = k));
  assert.equal(r.status, 130, r.stderr);
  const report = JSON.parse(r.stdout) as BenchServeReport;
  assert.equal(report.interrupted, true);
  assert.deepEqual(report.error_kinds, { aborted: 2 });
  assert.match(r.stderr, /interrupted: aborting requests in flight/);
  assert.equal(fake.stats.arrivals, 2);
});
