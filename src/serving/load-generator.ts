/**
 * Closed-loop load generator for an OpenAI-compatible server (`tandem bench serve`), after specs/serving.md §9.
 *
 * `runLoad` sends `requests` streaming `POST {url}/v1/completions` requests
 *   {model, prompt, max_tokens, temperature: 0, stream: true, stream_options: {include_usage: true}, ignore_eos: true}
 * keeping at most `concurrency` in flight: each of `concurrency` workers sends its next request as soon as its
 * previous one ends (no arrival process, no think time). `ignore_eos` (a vLLM extension the Tandem server honours)
 * pins the output length to `max_tokens`.
 *
 * Prompts are pseudo-random English words, deterministic in (seed, request index), distinct per request so prefix
 * caching cannot shortcut them. They are sized to about `promptTokens` tokens: the warm-up requests (default 1,
 * same shape, excluded from the report, §9.4) are sized at 1.3 tokens per word and the server's
 * `usage.prompt_tokens` for them calibrates the tokens-per-word ratio used for every measured prompt; the report
 * gives the real mean from the measured requests' usage. With `warmup: 0` the 1.3 guess is kept.
 *
 * Without `model`, the first id from `GET {url}/v1/models` is used. An unreachable server or a failed warm-up is a
 * one-line TandemError before anything is measured; failures of measured requests are counted by kind in the report.
 * Aborting `signal` (the CLI wires SIGINT to it) aborts every in-flight request, sends no more, and returns the
 * report of what finished with `interrupted: true`.
 */
import { TandemError } from '../errors.js';
import { sendCompletion, type RequestRecord } from './load-request.js';
import { buildReport, type BenchServeReport, type RunResult } from './load-report.js';
import { mulberry32 } from '../numerics/random.js';

export { BENCH_SERVE_KEYS, BENCH_SERVE_SCHEMA, formatReport, percentile, type BenchServeReport } from './load-report.js';
export { sseEvents, type RequestRecord } from './load-request.js';

export interface LoadOptions {
  /** Server base URL, e.g. http://127.0.0.1:8000 (a trailing /v1 is accepted and dropped). */
  readonly url: string;
  /** Closed-loop limit on requests in flight (default 1). */
  readonly concurrency?: number;
  /** Measured requests (default 100). */
  readonly requests?: number;
  /** Target prompt length in tokens (default 256). */
  readonly promptTokens?: number;
  /** Output tokens per request: max_tokens, with ignore_eos (default 128). */
  readonly outputTokens?: number;
  /** Model name sent; default: the first id of GET /v1/models. */
  readonly model?: string;
  /** Sent as `Authorization: Bearer …`. */
  readonly apiKey?: string;
  /** Prompt seed (default 0). */
  readonly seed?: number;
  /** Per-request limit, send → end of stream, seconds (default 600). */
  readonly timeoutS?: number;
  /** Unmeasured requests first; they calibrate prompt sizing (default 1). */
  readonly warmup?: number;
}

export interface LoadHooks {
  /** Abort to interrupt the run (SIGINT). */
  readonly signal?: AbortSignal;
  /** Called after each measured request ends. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** `LoadOptions` with defaults applied and checked. */
export interface ResolvedLoadOptions {
  readonly url: string;
  readonly concurrency: number;
  readonly requests: number;
  readonly promptTokens: number;
  readonly outputTokens: number;
  readonly model: string | undefined;
  readonly apiKey: string | undefined;
  readonly seed: number;
  readonly timeoutS: number;
  readonly warmup: number;
}

/** Tokens per English word assumed before the server has told us (BPE tokenizers average about this). */
export const DEFAULT_TOKENS_PER_WORD = 1.3;

function intAtLeast(name: string, v: number | undefined, dflt: number, min: number): number {
  const n = v ?? dflt;
  if (!Number.isSafeInteger(n) || n < min) throw new TandemError('BAD_ARGUMENT', `${name} must be an integer ≥ ${min}, got ${n}`);
  return n;
}

/** Base URL without a trailing slash or /v1; http(s) only. */
export function normalizeBaseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TandemError('BAD_ARGUMENT', `--url must be an http(s) URL such as http://127.0.0.1:8000, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TandemError('BAD_ARGUMENT', `--url must be an http(s) URL such as http://127.0.0.1:8000, got "${raw}"`);
  }
  if (u.search !== '' || u.hash !== '') throw new TandemError('BAD_ARGUMENT', `--url must not have a query or fragment, got "${raw}"`);
  return u.href.replace(/\/+$/, '').replace(/\/v1$/, '');
}

/** Applies defaults and validates; every problem is a one-line BAD_ARGUMENT. */
export function resolveLoadOptions(o: LoadOptions): ResolvedLoadOptions {
  const timeoutS = o.timeoutS ?? 600;
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new TandemError('BAD_ARGUMENT', `--timeout must be a number of seconds > 0, got ${timeoutS}`);
  if (o.model !== undefined && o.model.trim() === '') throw new TandemError('BAD_ARGUMENT', '--model must not be empty');
  return {
    url: normalizeBaseUrl(o.url),
    concurrency: intAtLeast('--concurrency', o.concurrency, 1, 1),
    requests: intAtLeast('--requests', o.requests, 100, 1),
    promptTokens: intAtLeast('--prompt-tokens', o.promptTokens, 256, 1),
    outputTokens: intAtLeast('--output-tokens', o.outputTokens, 128, 1),
    model: o.model,
    apiKey: o.apiKey,
    seed: intAtLeast('--seed', o.seed, 0, 0),
    timeoutS,
    warmup: intAtLeast('--warmup', o.warmup, 1, 0),
  };
}

// ── prompts ────────────────────────────────────────────────────────────────────────────────────────────────────────

const WORDS = (
  'the of and to in is that it was for on are with as his they be at one have this from or had by word but what ' +
  'some we can out other were all there when up use your how said an each she which do their time if will way ' +
  'about many then them write would like so these her long make thing see him two has look more day could go come ' +
  'did number sound no most people my over know water than call first who may down side been now find any new ' +
  'work part take get place made live where after back little only round man year came show every good me give ' +
  'our under name very through just form sentence great think say help low line differ turn cause much mean ' +
  'before move right boy old too same tell does set three want air well also play small end put home read hand ' +
  'port large spell add even land here must big high such follow act why ask men change went light kind off ' +
  'need house picture try us again animal point mother world near build self earth father head stand own page ' +
  'should country found answer school grow study still learn plant cover food sun four between state keep eye ' +
  'never last let thought city tree cross farm hard start might story saw far sea draw left late run while press'
).split(' ');


/** Words needed for `tokens` tokens at `tokensPerWord` (at least one). */
export function wordsFor(tokens: number, tokensPerWord: number): number {
  return Math.max(1, Math.round(tokens / tokensPerWord));
}

/** The prompt of request `index` (warm-ups use negative indices): `words` seeded pseudo-random English words. */
export function makePrompt(seed: number, index: number, words: number): string {
  const rand = mulberry32(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 0x632be5ab, 0xc2b2ae35));
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)]!);
  return out.join(' ');
}

// ── run ────────────────────────────────────────────────────────────────────────────────────────────────────────────

function authHeaders(apiKey: string | undefined): Record<string, string> {
  return apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` };
}

/** The first model id from GET /v1/models; unreachable or empty is a one-line error asking for --model. */
export async function discoverModel(url: string, apiKey: string | undefined, timeoutS: number, signal?: AbortSignal): Promise<string> {
  const where = `${url}/v1/models`;
  const limit = AbortSignal.timeout(Math.min(timeoutS, 30) * 1000);
  let body: unknown;
  try {
    const res = await fetch(where, { headers: authHeaders(apiKey), signal: signal === undefined ? limit : AbortSignal.any([signal, limit]) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (e) {
    if (signal?.aborted === true) throw new TandemError('BAD_ARGUMENT', `interrupted while listing models at ${where}; nothing was measured`);
    const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : '';
    throw new TandemError('BAD_ARGUMENT', `cannot list models at ${where}: ${e instanceof Error ? e.message : String(e)}${cause}; is the server up? or pass --model`);
  }
  const data = typeof body === 'object' && body !== null && 'data' in body ? body.data : undefined;
  const first: unknown = Array.isArray(data) ? data[0] : undefined;
  const id = typeof first === 'object' && first !== null && 'id' in first ? first.id : undefined;
  if (typeof id !== 'string' || id === '') throw new TandemError('BAD_ARGUMENT', `${where} lists no model; pass --model`);
  return id;
}

interface Shot {
  readonly o: ResolvedLoadOptions;
  readonly model: string;
  readonly origin: number;
  readonly signal: AbortSignal | undefined;
}

function sendOne(shot: Shot, prompt: string): Promise<RequestRecord> {
  const { o } = shot;
  return sendCompletion({
    endpoint: `${o.url}/v1/completions`,
    body: {
      model: shot.model, prompt, max_tokens: o.outputTokens, temperature: 0, stream: true,
      stream_options: { include_usage: true }, ignore_eos: true,
    },
    timeoutMs: o.timeoutS * 1000,
    origin: shot.origin,
    ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
    ...(shot.signal === undefined ? {} : { signal: shot.signal }),
  });
}

/** Sends the warm-up requests one at a time; returns the measured tokens per word (or the default). */
async function warmUp(shot: Shot): Promise<number> {
  const { o } = shot;
  const words = wordsFor(o.promptTokens, DEFAULT_TOKENS_PER_WORD);
  const ratios: number[] = [];
  for (let i = 0; i < o.warmup && shot.signal?.aborted !== true; i++) {
    const rec = await sendOne(shot, makePrompt(o.seed, -1 - i, words));
    if (rec.error !== undefined && rec.error.kind !== 'aborted') {
      throw new TandemError('BAD_ARGUMENT', `warm-up request to ${o.url}/v1/completions failed (${rec.error.kind}): ${rec.error.message}`);
    }
    if (rec.promptTokens !== undefined && rec.promptTokens > 0) ratios.push(rec.promptTokens / words);
  }
  return ratios.length === 0 ? DEFAULT_TOKENS_PER_WORD : ratios.reduce((a, b) => a + b, 0) / ratios.length;
}

/** The measured phase: `concurrency` workers pull request indices until all are sent or the signal fires. */
async function closedLoop(shot: Shot, tokensPerWord: number, onProgress: LoadHooks['onProgress']): Promise<Omit<RunResult, 'interrupted'>> {
  const { o } = shot;
  const words = wordsFor(o.promptTokens, tokensPerWord);
  const records: RequestRecord[] = [];
  let next = 0;
  let done = 0;
  let inFlight = 0;
  let peak = 0;
  const worker = async (): Promise<void> => {
    while (next < o.requests && shot.signal?.aborted !== true) {
      const i = next++;
      peak = Math.max(peak, ++inFlight);
      const rec = await sendOne(shot, makePrompt(o.seed, i, words));
      inFlight--;
      records[i] = rec;
      onProgress?.(++done, o.requests);
    }
  };
  const startedAt = new Date();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.requests) }, worker));
  return { records: records.filter(Boolean), startedAt, durationMs: performance.now() - t0, peakConcurrency: peak };
}

/** Runs the benchmark described by `opts` and returns its report (see load-report.ts for the keys). */
export async function runLoad(opts: LoadOptions, hooks: LoadHooks = {}): Promise<BenchServeReport> {
  const o = resolveLoadOptions(opts);
  const model = o.model ?? (await discoverModel(o.url, o.apiKey, o.timeoutS, hooks.signal));
  const shot: Shot = { o, model, origin: performance.now(), signal: hooks.signal };
  const tokensPerWord = await warmUp(shot);
  const run = await closedLoop(shot, tokensPerWord, hooks.onProgress);
  return buildReport(
    {
      url: o.url, model, requests: o.requests, concurrency: o.concurrency, promptTokens: o.promptTokens,
      outputTokens: o.outputTokens, tokensPerWord, seed: o.seed, timeoutS: o.timeoutS, warmup: o.warmup,
    },
    { ...run, interrupted: hooks.signal?.aborted === true },
  );
}
