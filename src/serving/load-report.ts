/**
 * The `tandem bench serve` report: statistics over per-request records, the JSON object (schema
 * `tandem.bench.serve/1`), and the readable table. Definitions follow specs/serving.md §9.1.
 *
 * JSON keys (all always present, in this order; a value that cannot be computed, e.g. a latency with no successful
 * request, is `null`). Names follow `vllm bench serve`'s result file so the two can be cross-checked:
 *
 *   schema                       "tandem.bench.serve/1"
 *   date                         ISO-8601 time the measured phase started
 *   url, model                   server base URL and the model name sent
 *   num_prompts                  requests asked for (--requests)
 *   max_concurrency              closed-loop limit on requests in flight (--concurrency)
 *   peak_concurrency             most requests the client actually had in flight
 *   target_input_tokens          --prompt-tokens
 *   target_output_tokens         --output-tokens (sent as max_tokens with ignore_eos)
 *   tokens_per_word              prompt tokens per generated word used to size prompts (1.3, or measured by warm-up)
 *   seed, timeout_s, warmup_requests
 *   interrupted                  true when SIGINT stopped the run; the numbers cover what finished
 *   duration                     wall time of the measured phase, seconds (first send → last request end)
 *   completed                    successful requests; every statistic below covers only these
 *   failed                       requests that ended in an error (includes `aborted` ones on SIGINT)
 *   error_kinds                  { kind: count }, kinds as in load-request.ts (http_500, stream_error, timeout, …)
 *   error_examples               { kind: the first such request's message }, e.g. "HTTP 500: out of memory"
 *   total_input_tokens           Σ usage.prompt_tokens (requests without usage count 0 and are left out of the mean)
 *   total_output_tokens          Σ output tokens (usage.completion_tokens, else token chunks)
 *   mean_input_tokens, mean_output_tokens
 *   request_throughput           completed / duration (req/s)
 *   output_throughput            total_output_tokens / duration (tok/s)
 *   total_token_throughput       (total_input_tokens + total_output_tokens) / duration (tok/s)
 *   {mean,std,min,max,median,p50,p90,p99}_{M}_ms for M in
 *     ttft   send → first token chunk
 *     ttst   send → second token chunk (time to second token; exposes first-decode stalls)
 *     tpot   per request (E2E − TTFT)/(output tokens − 1); requests with one output token are left out
 *     itl    every gap between consecutive token chunks, pooled over requests
 *     e2el   send → `data: [DONE]`
 *
 * Percentiles interpolate linearly between closest ranks (numpy's default, as vLLM uses); std is the population std.
 */
import type { RequestRecord } from './load-request.js';

export const BENCH_SERVE_SCHEMA = 'tandem.bench.serve/1';

export const LATENCY_METRICS = ['ttft', 'ttst', 'tpot', 'itl', 'e2el'] as const;
export type LatencyMetric = (typeof LATENCY_METRICS)[number];
export const LATENCY_STATS = ['mean', 'std', 'min', 'max', 'median', 'p50', 'p90', 'p99'] as const;
export type LatencyStat = (typeof LATENCY_STATS)[number];

/** The settings a report echoes. */
export interface ReportConfig {
  readonly url: string;
  readonly model: string;
  readonly requests: number;
  readonly concurrency: number;
  readonly promptTokens: number;
  readonly outputTokens: number;
  readonly tokensPerWord: number;
  readonly seed: number;
  readonly timeoutS: number;
  readonly warmup: number;
}

/** What the run measured, before statistics. */
export interface RunResult {
  readonly records: readonly RequestRecord[];
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly peakConcurrency: number;
  readonly interrupted: boolean;
}

type LatencyKeys = { [K in `${LatencyStat}_${LatencyMetric}_ms`]: number | null };

export interface BenchServeReport extends LatencyKeys {
  schema: string;
  date: string;
  url: string;
  model: string;
  num_prompts: number;
  max_concurrency: number;
  peak_concurrency: number;
  target_input_tokens: number;
  target_output_tokens: number;
  tokens_per_word: number;
  seed: number;
  timeout_s: number;
  warmup_requests: number;
  interrupted: boolean;
  duration: number;
  completed: number;
  failed: number;
  error_kinds: Record<string, number>;
  error_examples: Record<string, string>;
  total_input_tokens: number;
  total_output_tokens: number;
  mean_input_tokens: number | null;
  mean_output_tokens: number | null;
  request_throughput: number;
  output_throughput: number;
  total_token_throughput: number;
}

/** The report's keys in order: the stable contract of `--json`. */
export const BENCH_SERVE_KEYS: readonly string[] = [
  'schema', 'date', 'url', 'model', 'num_prompts', 'max_concurrency', 'peak_concurrency', 'target_input_tokens',
  'target_output_tokens', 'tokens_per_word', 'seed', 'timeout_s', 'warmup_requests', 'interrupted', 'duration',
  'completed', 'failed', 'error_kinds', 'error_examples', 'total_input_tokens', 'total_output_tokens', 'mean_input_tokens',
  'mean_output_tokens', 'request_throughput', 'output_throughput', 'total_token_throughput',
  ...LATENCY_METRICS.flatMap((m) => LATENCY_STATS.map((s) => `${s}_${m}_ms`)),
];

/** The q-th percentile (0…100) of `xs` with linear interpolation between closest ranks (numpy's default). */
export function percentile(xs: readonly number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function mean(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Population standard deviation. */
export function std(xs: readonly number[]): number | null {
  const m = mean(xs);
  return m === null ? null : Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length);
}

function describe(xs: readonly number[]): Record<LatencyStat, number | null> {
  const empty = xs.length === 0;
  return {
    mean: mean(xs), std: std(xs), min: empty ? null : Math.min(...xs), max: empty ? null : Math.max(...xs),
    median: percentile(xs, 50), p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99),
  };
}

/** Per-metric samples from the successful requests. */
function samples(ok: readonly RequestRecord[]): Record<LatencyMetric, number[]> {
  const tpot = ok.filter((r) => r.outputTokens > 1).map((r) => (r.e2eMs! - r.ttftMs!) / (r.outputTokens - 1));
  return {
    ttft: ok.map((r) => r.ttftMs!),
    ttst: ok.flatMap((r) => (r.ttstMs === undefined ? [] : [r.ttstMs])),
    tpot,
    itl: ok.flatMap((r) => r.itlMs),
    e2el: ok.map((r) => r.e2eMs!),
  };
}

function latencyKeys(ok: readonly RequestRecord[]): LatencyKeys {
  const out: Record<string, number | null> = {};
  const s = samples(ok);
  for (const m of LATENCY_METRICS) {
    const d = describe(s[m]);
    for (const stat of LATENCY_STATS) out[`${stat}_${m}_ms`] = d[stat];
  }
  return out as LatencyKeys;
}

/** Statistics and the settings echo → the report object, keys in `BENCH_SERVE_KEYS` order. */
export function buildReport(cfg: ReportConfig, run: RunResult): BenchServeReport {
  const ok = run.records.filter((r) => r.error === undefined && r.ttftMs !== undefined && r.e2eMs !== undefined);
  const errorKinds: Record<string, number> = {};
  const errorExamples: Record<string, string> = {};
  for (const { error } of run.records) {
    if (error === undefined) continue;
    errorKinds[error.kind] = (errorKinds[error.kind] ?? 0) + 1;
    errorExamples[error.kind] ??= error.message;
  }
  const inputs = ok.flatMap((r) => (r.promptTokens === undefined ? [] : [r.promptTokens]));
  const totalIn = inputs.reduce((a, b) => a + b, 0);
  const totalOut = ok.reduce((a, r) => a + r.outputTokens, 0);
  const secs = run.durationMs / 1000;
  const perSec = (n: number): number => (secs > 0 ? n / secs : 0);
  const report: BenchServeReport = {
    schema: BENCH_SERVE_SCHEMA, date: run.startedAt.toISOString(), url: cfg.url, model: cfg.model,
    num_prompts: cfg.requests, max_concurrency: cfg.concurrency, peak_concurrency: run.peakConcurrency,
    target_input_tokens: cfg.promptTokens, target_output_tokens: cfg.outputTokens, tokens_per_word: cfg.tokensPerWord,
    seed: cfg.seed, timeout_s: cfg.timeoutS, warmup_requests: cfg.warmup, interrupted: run.interrupted,
    duration: secs, completed: ok.length, failed: run.records.length - ok.length, error_kinds: errorKinds,
    error_examples: errorExamples,
    total_input_tokens: totalIn, total_output_tokens: totalOut,
    mean_input_tokens: mean(inputs), mean_output_tokens: mean(ok.map((r) => r.outputTokens)),
    request_throughput: perSec(ok.length), output_throughput: perSec(totalOut),
    total_token_throughput: perSec(totalIn + totalOut),
    ...latencyKeys(ok),
  };
  return Object.fromEntries(BENCH_SERVE_KEYS.map((k) => [k, report[k as keyof BenchServeReport]])) as unknown as BenchServeReport;
}

const fmt = (v: number | null, digits = 2): string => (v === null ? '-' : v.toFixed(digits));

const METRIC_LABELS: Record<LatencyMetric, string> = {
  ttft: 'TTFT (first token)',
  ttst: 'TTST (second token)',
  tpot: 'TPOT (per request)',
  itl: 'ITL (inter-chunk)',
  e2el: 'E2E latency',
};

/** The human-readable table printed without `--json`. */
export function formatReport(r: BenchServeReport): string {
  const kinds = Object.entries(r.error_kinds).map(([k, n]) => `${k}: ${n}`).join(', ');
  const row = (label: string, value: string): string => `${label.padEnd(34)}${value}`;
  const examples = Object.entries(r.error_examples).map(([k, m]) => row(`  first ${k}:`, m.replace(/\s+/g, ' ').slice(0, 120)));
  const lines = [
    `============ tandem bench serve${r.interrupted ? ' (interrupted)' : ''} ============`,
    row('Server / model:', `${r.url}  ${r.model}`),
    row('Requests ok / failed / asked:', `${r.completed} / ${r.failed} / ${r.num_prompts}${kinds ? `  (${kinds})` : ''}`),
    ...examples,
    row('Concurrency (limit / peak):', `${r.max_concurrency} / ${r.peak_concurrency}`),
    row('Wall time (s):', fmt(r.duration)),
    row('Prompt tokens (target / mean):', `${r.target_input_tokens} / ${fmt(r.mean_input_tokens, 1)}`),
    row('Output tokens (target / mean):', `${r.target_output_tokens} / ${fmt(r.mean_output_tokens, 1)}`),
    row('Total input / output tokens:', `${r.total_input_tokens} / ${r.total_output_tokens}`),
    row('Request throughput (req/s):', fmt(r.request_throughput)),
    row('Output token throughput (tok/s):', fmt(r.output_throughput)),
    row('Total token throughput (tok/s):', fmt(r.total_token_throughput)),
    '',
    `${'latency (ms)'.padEnd(22)}${['mean', 'p50', 'p90', 'p99'].map((h) => h.padStart(11)).join('')}`,
  ];
  for (const m of LATENCY_METRICS) {
    const cells = (['mean', 'p50', 'p90', 'p99'] as const).map((s) => fmt(r[`${s}_${m}_ms`]).padStart(11));
    lines.push(`${METRIC_LABELS[m].padEnd(22)}${cells.join('')}`);
  }
  lines.push('='.repeat(50));
  return lines.join('\n');
}
