/**
 * The multiturn workload of `tandem bench serve --workload multiturn`: simulated agent sessions that resend a
 * growing context, for measuring a prefix (context) cache — specs/serving.md §9.1 (prefix cache hit rate and the
 * oracle hit rate of the trace) and §9.3 item 4 (multi-turn chat with think time, per-round TTFT curves).
 *
 * Workload (deterministic in `seed`; the answers are whatever the server generates):
 *   - one shared system prompt of about `systemTokens` tokens (pseudo-random English words), common to all sessions;
 *   - `sessions` sessions of `turns` turns each; turn t's prompt is its parent context followed by
 *     "\n\nUser: <about turnTokens tokens of words>\nAssistant:", where the parent context is the system prompt for
 *     turn 0 and otherwise the full text (prompt + generated answer) of the session's turn t−1 — or, with
 *     probability `branchProb` for t ≥ 2, of an earlier turn j ∈ [0, t−2] (a branch / fork);
 *   - every turn asks for `outputTokens` tokens (max_tokens with ignore_eos, temperature 0, streaming);
 *   - a session waits `thinkMs` after each answer before sending its next turn;
 *   - at most `concurrency` sessions run at once (default: all of them); a session runs its turns in order.
 * Prompts are plain text built by concatenation, so a turn's prompt starts with the exact text of its parent's
 * prompt and answer, and every prompt starts with the system prompt.
 *
 * Word counts are sized at `tokensPerWord` (1.3, or measured by the warm-up requests, which use unrelated prompts of
 * about min(`systemTokens`, 256) tokens and are excluded from the report). A failed turn is counted and its session goes on
 * with an empty answer.
 *
 * Hit rate = Σ usage.prompt_tokens_details.cached_tokens / Σ usage.prompt_tokens over the successful requests (a
 * missing cached_tokens counts 0).
 *
 * Oracle hit rate (the best any prefix cache of unlimited capacity could do on this trace): for request i, in send
 * order, let L_i be the length in characters of the longest common prefix of its prompt with any earlier request's
 * prompt (an identical earlier prompt — a resend — gives the whole prompt). Its oracle cached tokens are estimated as
 * (L_i / chars_i) × prompt_tokens_i with the server-reported prompt_tokens, i.e. we assume tokens are spread evenly
 * over the characters; the oracle hit rate is Σ oracle tokens / Σ prompt_tokens. This is an approximation: the
 * tokenizer may split the boundary differently, and an engine recomputes at least the last prompt token. "Earlier"
 * means sent earlier, even if still in flight (sessions that start together share the system prompt in the oracle
 * while a real cache may not have stored it yet). `oracle_hit_rate_with_outputs` also lets a request match an
 * earlier request's prompt followed by its generated answer (a cache that keeps decoded tokens too); the generated
 * text is re-tokenized by the server, so this one is looser still. Captured = hit rate / oracle hit rate.
 */
import { TandemError } from '../errors.js';
import { mulberry32 } from '../numerics/random.js';
import {
  DEFAULT_TOKENS_PER_WORD, discoverModel, makePrompt, normalizeBaseUrl, wordsFor, type LoadHooks,
} from './load-generator.js';
import { mean, percentile } from './load-report.js';
import { sendCompletion, type RequestRecord } from './load-request.js';

export const BENCH_MULTITURN_SCHEMA = 'tandem.bench.multiturn/1';

export interface MultiturnOptions {
  readonly url: string;
  /** Sessions (default 8). */
  readonly sessions?: number;
  /** Turns per session (default 6). */
  readonly turns?: number;
  /** Sessions in flight (default: all). */
  readonly concurrency?: number;
  /** Shared system prompt length, tokens (about; default 300). */
  readonly systemTokens?: number;
  /** New user message per turn, tokens (about; default 64). */
  readonly turnTokens?: number;
  /** Output tokens per turn (max_tokens with ignore_eos; default 32). */
  readonly outputTokens?: number;
  /** Think time between a session's turns, ms (default 200). */
  readonly thinkMs?: number;
  /** Probability that turn t ≥ 2 forks from an earlier turn than t − 1 (default 0.2). */
  readonly branchProb?: number;
  readonly model?: string;
  readonly apiKey?: string;
  readonly seed?: number;
  /** Per-request limit, seconds (default 600). */
  readonly timeoutS?: number;
  /** Unmeasured requests first, unrelated prompts; they calibrate word sizing (default 1). */
  readonly warmup?: number;
}

export interface ResolvedMultiturnOptions {
  readonly url: string;
  readonly sessions: number;
  readonly turns: number;
  readonly concurrency: number;
  readonly systemTokens: number;
  readonly turnTokens: number;
  readonly outputTokens: number;
  readonly thinkMs: number;
  readonly branchProb: number;
  readonly model: string | undefined;
  readonly apiKey: string | undefined;
  readonly seed: number;
  readonly timeoutS: number;
  readonly warmup: number;
}

/** What one turn was, for hooks and tests. */
export interface TurnInfo {
  readonly session: number;
  readonly turn: number;
  /** The turn whose context this one extends: −1 = the system prompt, t − 1 normally, lower for a branch. */
  readonly parent: number;
  readonly branched: boolean;
  /** Position in send order over the whole run. */
  readonly seq: number;
  readonly prompt: string;
  readonly record: RequestRecord;
}

export interface MultiturnHooks extends LoadHooks {
  /** Called after each turn ends. */
  readonly onTurn?: (t: TurnInfo) => void;
}

export interface TurnRow {
  turn: number;
  requests: number;
  completed: number;
  branched: number;
  mean_input_tokens: number | null;
  cached_tokens: number;
  hit_rate: number | null;
  oracle_hit_rate: number | null;
  mean_ttft_ms: number | null;
  p50_ttft_ms: number | null;
  p90_ttft_ms: number | null;
}

export interface MultiturnReport {
  schema: string;
  workload: 'multiturn';
  date: string;
  url: string;
  model: string;
  sessions: number;
  turns: number;
  max_concurrency: number;
  peak_concurrency: number;
  system_tokens: number;
  turn_tokens: number;
  output_tokens: number;
  think_ms: number;
  branch_prob: number;
  tokens_per_word: number;
  seed: number;
  timeout_s: number;
  warmup_requests: number;
  interrupted: boolean;
  duration: number;
  num_requests: number;
  completed: number;
  failed: number;
  branched: number;
  error_kinds: Record<string, number>;
  error_examples: Record<string, string>;
  total_input_tokens: number;
  total_output_tokens: number;
  total_cached_tokens: number;
  oracle_cached_tokens: number;
  hit_rate: number | null;
  oracle_hit_rate: number | null;
  oracle_hit_rate_with_outputs: number | null;
  captured: number | null;
  mean_ttft_ms: number | null;
  p50_ttft_ms: number | null;
  p90_ttft_ms: number | null;
  p99_ttft_ms: number | null;
  mean_e2el_ms: number | null;
  p50_e2el_ms: number | null;
  p90_e2el_ms: number | null;
  per_turn: TurnRow[];
}

/** Report keys in order: the stable contract of `--workload multiturn --json`. */
export const BENCH_MULTITURN_KEYS: readonly string[] = [
  'schema', 'workload', 'date', 'url', 'model', 'sessions', 'turns', 'max_concurrency', 'peak_concurrency',
  'system_tokens', 'turn_tokens', 'output_tokens', 'think_ms', 'branch_prob', 'tokens_per_word', 'seed', 'timeout_s',
  'warmup_requests', 'interrupted', 'duration', 'num_requests', 'completed', 'failed', 'branched', 'error_kinds',
  'error_examples', 'total_input_tokens', 'total_output_tokens', 'total_cached_tokens', 'oracle_cached_tokens',
  'hit_rate', 'oracle_hit_rate', 'oracle_hit_rate_with_outputs', 'captured', 'mean_ttft_ms', 'p50_ttft_ms',
  'p90_ttft_ms', 'p99_ttft_ms', 'mean_e2el_ms', 'p50_e2el_ms', 'p90_e2el_ms', 'per_turn',
];

/** Keys of each `per_turn` row, in order. */
export const BENCH_MULTITURN_TURN_KEYS: readonly string[] = [
  'turn', 'requests', 'completed', 'branched', 'mean_input_tokens', 'cached_tokens', 'hit_rate', 'oracle_hit_rate',
  'mean_ttft_ms', 'p50_ttft_ms', 'p90_ttft_ms',
];

function intAtLeast(name: string, v: number | undefined, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = v ?? dflt;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new TandemError('BAD_ARGUMENT', `${name} must be an integer ≥ ${min}${max < Number.MAX_SAFE_INTEGER ? ` and ≤ ${max}` : ''}, got ${n}`);
  }
  return n;
}

export function resolveMultiturnOptions(o: MultiturnOptions): ResolvedMultiturnOptions {
  const timeoutS = o.timeoutS ?? 600;
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new TandemError('BAD_ARGUMENT', `--timeout must be a number of seconds > 0, got ${timeoutS}`);
  const branchProb = o.branchProb ?? 0.2;
  if (!Number.isFinite(branchProb) || branchProb < 0 || branchProb > 1) {
    throw new TandemError('BAD_ARGUMENT', `--branch-prob must be a number in [0, 1], got ${branchProb}`);
  }
  const thinkMs = o.thinkMs ?? 200;
  if (!Number.isFinite(thinkMs) || thinkMs < 0) throw new TandemError('BAD_ARGUMENT', `--think-ms must be a number ≥ 0, got ${thinkMs}`);
  if (o.model !== undefined && o.model.trim() === '') throw new TandemError('BAD_ARGUMENT', '--model must not be empty');
  const sessions = intAtLeast('--sessions', o.sessions, 8, 1, 100_000);
  return {
    url: normalizeBaseUrl(o.url),
    sessions,
    turns: intAtLeast('--turns', o.turns, 6, 1, 10_000),
    concurrency: Math.min(intAtLeast('--concurrency', o.concurrency, sessions, 1), sessions),
    systemTokens: intAtLeast('--system-tokens', o.systemTokens, 300, 1),
    turnTokens: intAtLeast('--turn-tokens', o.turnTokens, 64, 1),
    outputTokens: intAtLeast('--output-tokens', o.outputTokens, 32, 1),
    thinkMs,
    branchProb,
    model: o.model,
    apiKey: o.apiKey,
    seed: intAtLeast('--seed', o.seed, 0, 0),
    timeoutS,
    warmup: intAtLeast('--warmup', o.warmup, 1, 0),
  };
}

// ── the workload plan ──────────────────────────────────────────────────────────────────────────────────────────────

/** The shared system prompt. */
export function systemPrompt(seed: number, words: number): string {
  return makePrompt(seed, -1_000_000_000, words);
}

/** The new user message of (session, turn). */
export function userMessage(seed: number, session: number, turn: number, words: number): string {
  return makePrompt(seed, 1_000_000_000 + session * 10_000 + turn, words);
}

/** Text appended to the parent context for a turn. */
export function turnSuffix(message: string): string {
  return `\n\nUser: ${message}\nAssistant:`;
}

/** Each turn's parent (−1 = system prompt) for one session; deterministic in (seed, session). */
export function planParents(seed: number, session: number, turns: number, branchProb: number): number[] {
  const rand = mulberry32(Math.imul(seed ^ 0x27d4eb2f, 0x165667b1) ^ Math.imul(session + 0x3c6ef372, 0x9e3779b1));
  const parents: number[] = [];
  for (let t = 0; t < turns; t++) {
    const r = rand();
    const pick = rand();
    if (t === 0) parents.push(-1);
    else if (t >= 2 && r < branchProb) parents.push(Math.floor(pick * (t - 1)));
    else parents.push(t - 1);
  }
  return parents;
}

// ── oracle ─────────────────────────────────────────────────────────────────────────────────────────────────────────

function lcp(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * For each query, in order, the length of its longest common prefix with any string seen before it; after query i,
 * `extra[i]` (default: the query itself) joins the seen set. Uses the fact that the longest common prefix with a set
 * is reached at a lexicographic neighbour, so a sorted list and binary search suffice (O(n log n) comparisons).
 */
export function longestPrefixWithEarlier(queries: readonly string[], extra?: readonly (readonly string[])[]): number[] {
  const seen: string[] = [];
  const out: number[] = [];
  const insertAt = (s: string): number => {
    let lo = 0;
    let hi = seen.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seen[mid]! < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  queries.forEach((q, i) => {
    const at = insertAt(q);
    let best = 0;
    if (at < seen.length) best = Math.max(best, lcp(q, seen[at]!));
    if (at > 0) best = Math.max(best, lcp(q, seen[at - 1]!));
    out.push(best);
    for (const s of extra?.[i] ?? [q]) seen.splice(insertAt(s), 0, s);
  });
  return out;
}

/** Per request (in send order): the fraction of its prompt's characters shared with an earlier prompt. */
export function oracleShares(prompts: readonly string[]): number[] {
  return longestPrefixWithEarlier(prompts).map((l, i) => (prompts[i]!.length === 0 ? 0 : l / prompts[i]!.length));
}

// ── run ────────────────────────────────────────────────────────────────────────────────────────────────────────────

interface Sent {
  readonly session: number;
  readonly turn: number;
  readonly branched: boolean;
  readonly prompt: string;
  record?: RequestRecord;
}

const sleep = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted === true) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

function send(o: ResolvedMultiturnOptions, model: string, origin: number, prompt: string, signal: AbortSignal | undefined): Promise<RequestRecord> {
  return sendCompletion({
    endpoint: `${o.url}/v1/completions`,
    body: {
      model, prompt, max_tokens: o.outputTokens, temperature: 0, stream: true,
      stream_options: { include_usage: true }, ignore_eos: true,
    },
    timeoutMs: o.timeoutS * 1000,
    origin,
    ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
    ...(signal === undefined ? {} : { signal }),
  });
}

/** Runs the multiturn workload and returns its report (keys: BENCH_MULTITURN_KEYS). */
export async function runMultiturn(opts: MultiturnOptions, hooks: MultiturnHooks = {}): Promise<MultiturnReport> {
  const o = resolveMultiturnOptions(opts);
  const { signal } = hooks;
  const aborted = (): boolean => signal?.aborted === true;
  const model = o.model ?? (await discoverModel(o.url, o.apiKey, o.timeoutS, signal));
  const origin = performance.now();

  // Warm-up: unrelated prompts of about min(systemTokens, 256) tokens (at the 1.3 guess, which a small-vocabulary
  // tokenizer can exceed several times, so not the full size); calibrates tokens per word.
  const warmWords = wordsFor(Math.min(o.systemTokens, 256), DEFAULT_TOKENS_PER_WORD);
  const ratios: number[] = [];
  for (let i = 0; i < o.warmup && signal?.aborted !== true; i++) {
    const rec = await send(o, model, origin, makePrompt(o.seed, -1 - i, warmWords), signal);
    if (rec.error !== undefined && rec.error.kind !== 'aborted') {
      throw new TandemError('BAD_ARGUMENT', `warm-up request to ${o.url}/v1/completions failed (${rec.error.kind}): ${rec.error.message}`);
    }
    if (rec.promptTokens !== undefined && rec.promptTokens > 0) ratios.push(rec.promptTokens / warmWords);
  }
  const tokensPerWord = ratios.length === 0 ? DEFAULT_TOKENS_PER_WORD : ratios.reduce((a, b) => a + b, 0) / ratios.length;

  const system = systemPrompt(o.seed, wordsFor(o.systemTokens, tokensPerWord));
  const msgWords = wordsFor(o.turnTokens, tokensPerWord);
  const sent: Sent[] = [];
  const total = o.sessions * o.turns;
  let done = 0;
  let inFlight = 0;
  let peak = 0;

  const runSession = async (s: number): Promise<void> => {
    const parents = planParents(o.seed, s, o.turns, o.branchProb);
    const contexts: string[] = [];
    for (let t = 0; t < o.turns && !aborted(); t++) {
      if (t > 0) await sleep(o.thinkMs, signal);
      if (aborted()) break;
      const parent = parents[t]!;
      const prompt = (parent < 0 ? system : contexts[parent]!) + turnSuffix(userMessage(o.seed, s, t, msgWords));
      const entry: Sent = { session: s, turn: t, branched: parent >= 0 && parent !== t - 1, prompt };
      const seq = sent.push(entry) - 1;
      peak = Math.max(peak, ++inFlight);
      const rec = await send(o, model, origin, prompt, signal);
      inFlight--;
      entry.record = rec;
      contexts.push(prompt + (rec.error === undefined ? (rec.text ?? '') : ''));
      hooks.onTurn?.({ session: s, turn: t, parent, branched: entry.branched, seq, prompt, record: rec });
      hooks.onProgress?.(++done, total);
    }
  };

  const startedAt = new Date();
  const t0 = performance.now();
  let nextSession = 0;
  const worker = async (): Promise<void> => {
    while (nextSession < o.sessions && signal?.aborted !== true) await runSession(nextSession++);
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const durationMs = performance.now() - t0;

  return buildMultiturnReport(o, model, tokensPerWord, sent, {
    startedAt, durationMs, peakConcurrency: peak, interrupted: signal?.aborted === true,
  });
}

interface RunMeta {
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly peakConcurrency: number;
  readonly interrupted: boolean;
}

const ratio = (num: number, den: number): number | null => (den > 0 ? num / den : null);

function buildMultiturnReport(o: ResolvedMultiturnOptions, model: string, tokensPerWord: number, sent: readonly Sent[], run: RunMeta): MultiturnReport {
  const records = sent.filter((e) => e.record !== undefined);
  // Oracle over every request sent, in send order (a failed request's prompt was still sent).
  const prompts = records.map((e) => e.prompt);
  const shares = oracleShares(prompts);
  const withOutputs = longestPrefixWithEarlier(prompts, records.map((e) => {
    const text = e.record!.error === undefined ? (e.record!.text ?? '') : '';
    return text === '' ? [e.prompt] : [e.prompt, e.prompt + text];
  })).map((l, i) => (prompts[i]!.length === 0 ? 0 : l / prompts[i]!.length));

  const isOk = (r: RequestRecord): boolean => r.error === undefined && r.ttftMs !== undefined && r.e2eMs !== undefined;
  const rows = records.map((e, i) => ({ e, r: e.record!, share: shares[i]!, shareOut: withOutputs[i]! }));
  const ok = rows.filter((x) => isOk(x.r));
  const errorKinds: Record<string, number> = {};
  const errorExamples: Record<string, string> = {};
  for (const { r } of rows) {
    if (r.error === undefined) continue;
    errorKinds[r.error.kind] = (errorKinds[r.error.kind] ?? 0) + 1;
    errorExamples[r.error.kind] ??= r.error.message;
  }
  const sums = (xs: typeof ok): { prompt: number; cached: number; oracle: number; oracleOut: number } => {
    let prompt = 0;
    let cached = 0;
    let oracle = 0;
    let oracleOut = 0;
    for (const x of xs) {
      const p = x.r.promptTokens ?? 0;
      prompt += p;
      cached += x.r.cachedTokens ?? 0;
      oracle += x.share * p;
      oracleOut += x.shareOut * p;
    }
    return { prompt, cached, oracle, oracleOut };
  };
  const all = sums(ok);
  const ttft = ok.map((x) => x.r.ttftMs!);
  const e2e = ok.map((x) => x.r.e2eMs!);
  const hitRate = ratio(all.cached, all.prompt);
  const oracleRate = ratio(all.oracle, all.prompt);
  const perTurn: TurnRow[] = [];
  for (let t = 0; t < o.turns; t++) {
    const sentT = rows.filter((x) => x.e.turn === t);
    if (sentT.length === 0) continue;
    const okT = sentT.filter((x) => isOk(x.r));
    const s = sums(okT);
    const tt = okT.map((x) => x.r.ttftMs!);
    const inputs = okT.flatMap((x) => (x.r.promptTokens === undefined ? [] : [x.r.promptTokens]));
    perTurn.push({
      turn: t, requests: sentT.length, completed: okT.length, branched: sentT.filter((x) => x.e.branched).length,
      mean_input_tokens: mean(inputs), cached_tokens: s.cached, hit_rate: ratio(s.cached, s.prompt),
      oracle_hit_rate: ratio(s.oracle, s.prompt), mean_ttft_ms: mean(tt), p50_ttft_ms: percentile(tt, 50),
      p90_ttft_ms: percentile(tt, 90),
    });
  }
  const secs = run.durationMs / 1000;
  const report: MultiturnReport = {
    schema: BENCH_MULTITURN_SCHEMA, workload: 'multiturn', date: run.startedAt.toISOString(), url: o.url, model,
    sessions: o.sessions, turns: o.turns, max_concurrency: o.concurrency, peak_concurrency: run.peakConcurrency,
    system_tokens: o.systemTokens, turn_tokens: o.turnTokens, output_tokens: o.outputTokens, think_ms: o.thinkMs,
    branch_prob: o.branchProb, tokens_per_word: tokensPerWord, seed: o.seed, timeout_s: o.timeoutS,
    warmup_requests: o.warmup, interrupted: run.interrupted, duration: secs, num_requests: rows.length,
    completed: ok.length, failed: rows.length - ok.length, branched: rows.filter((x) => x.e.branched).length,
    error_kinds: errorKinds, error_examples: errorExamples, total_input_tokens: all.prompt,
    total_output_tokens: ok.reduce((a, x) => a + x.r.outputTokens, 0), total_cached_tokens: all.cached,
    oracle_cached_tokens: all.oracle, hit_rate: hitRate, oracle_hit_rate: oracleRate,
    oracle_hit_rate_with_outputs: ratio(all.oracleOut, all.prompt),
    captured: hitRate !== null && oracleRate !== null && oracleRate > 0 ? hitRate / oracleRate : null,
    mean_ttft_ms: mean(ttft), p50_ttft_ms: percentile(ttft, 50), p90_ttft_ms: percentile(ttft, 90),
    p99_ttft_ms: percentile(ttft, 99), mean_e2el_ms: mean(e2e), p50_e2el_ms: percentile(e2e, 50),
    p90_e2el_ms: percentile(e2e, 90), per_turn: perTurn,
  };
  return Object.fromEntries(BENCH_MULTITURN_KEYS.map((k) => [k, report[k as keyof MultiturnReport]])) as unknown as MultiturnReport;
}

export { formatMultiturnReport } from './multiturn-format.js';
