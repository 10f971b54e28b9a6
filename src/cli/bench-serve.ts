/**
 * `tandem bench serve`: closed-loop streaming load against an OpenAI-compatible server (the Tandem server, vLLM, …)
 * and a TTFT / TTST / TPOT / ITL / E2E report; `--json` prints one object with the keys documented in
 * serving/load-report.ts. `--workload multiturn` runs simulated agent sessions instead (shared system prompt, growing
 * history, think time, branches; serving/multiturn.ts) and reports per-turn TTFT, the prefix-cache hit rate, the
 * oracle hit rate and the fraction captured; its `--json` keys are BENCH_MULTITURN_KEYS. SIGINT aborts the requests in flight and prints what finished (exit 130); a second
 * SIGINT kills at once.
 */
import type { Command } from 'commander';
import { TandemError } from '../errors.js';
import { formatReport, runLoad, type BenchServeReport } from '../serving/load-generator.js';
import { formatMultiturnReport, runMultiturn, type MultiturnReport } from '../serving/multiturn.js';
import { intOption, numberOption } from './options.js';

export interface BenchServeFlags {
  url: string;
  workload: string;
  /** Default: 1 for fixed, --sessions for multiturn. */
  concurrency?: number;
  requests: number;
  promptTokens: number;
  /** Default: 128 for fixed, 32 for multiturn. */
  outputTokens?: number;
  sessions: number;
  turns: number;
  systemTokens: number;
  turnTokens: number;
  thinkMs: number;
  branchProb: number;
  model?: string;
  apiKey?: string;
  seed: number;
  timeout: number;
  warmup: number;
  json?: boolean;
}

function positiveSeconds(v: string): number {
  const n = numberOption('--timeout')(v);
  if (n <= 0) throw new TandemError('BAD_ARGUMENT', `--timeout must be a number of seconds > 0, got "${v}"`);
  return n;
}

/** Progress on a terminal's stderr only, so piped output stays clean. */
function progress(done: number, total: number): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(`\r${done}/${total} requests done${done === total ? '\n' : ''}`);
}

function workload(v: string): string {
  if (v !== 'fixed' && v !== 'multiturn') throw new TandemError('BAD_ARGUMENT', `--workload must be fixed or multiturn, got "${v}"`);
  return v;
}

function nonNegative(flag: string) {
  return (v: string): number => {
    const n = numberOption(flag)(v);
    if (n < 0) throw new TandemError('BAD_ARGUMENT', `${flag} must be a number ≥ 0, got "${v}"`);
    return n;
  };
}

function probability(v: string): number {
  const n = numberOption('--branch-prob')(v);
  if (n < 0 || n > 1) throw new TandemError('BAD_ARGUMENT', `--branch-prob must be a number in [0, 1], got "${v}"`);
  return n;
}

function progressTurns(done: number, total: number): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(`\r${done}/${total} turns done${done === total ? '\n' : ''}`);
}

interface RunReport {
  readonly interrupted: boolean;
  readonly completed: number;
  readonly failed: number;
  readonly error_kinds: Readonly<Record<string, number>>;
  readonly error_examples: Readonly<Record<string, string>>;
}

/** Run a benchmark with Ctrl-C aborting requests in flight, print its report, set the exit code. */
async function runAndReport<R extends RunReport>(json: boolean, run: (signal: AbortSignal) => Promise<R>, format: (r: R) => string): Promise<void> {
  const ac = new AbortController();
  const onSigint = (): void => {
    process.stderr.write('\ninterrupted: aborting requests in flight (Ctrl-C again to quit now)\n');
    ac.abort();
  };
  process.once('SIGINT', onSigint);
  let report: R;
  try {
    report = await run(ac.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
  process.stdout.write((json ? JSON.stringify(report, null, 2) : format(report)) + '\n');
  if (report.interrupted) process.exitCode = 130;
  else if (report.completed === 0) {
    const kinds = Object.entries(report.error_kinds).map(([k, n]) => `${k}: ${n}, e.g. "${report.error_examples[k] ?? ''}"`);
    const line = `error[BAD_ARGUMENT]: all ${report.failed} requests failed (${kinds.join('; ')})`;
    process.stderr.write(line.replace(/\s*\n\s*/g, ' ') + '\n');
    process.exitCode = 1;
  }
}

const optional = (f: BenchServeFlags): { model?: string; apiKey?: string } => ({
  ...(f.model === undefined ? {} : { model: f.model }),
  ...(f.apiKey === undefined ? {} : { apiKey: f.apiKey }),
});

export async function benchServeCommand(f: BenchServeFlags): Promise<void> {
  if (f.workload === 'multiturn') {
    return runAndReport<MultiturnReport>(f.json ?? false, (signal) => runMultiturn(
      {
        url: f.url, sessions: f.sessions, turns: f.turns, systemTokens: f.systemTokens, turnTokens: f.turnTokens,
        thinkMs: f.thinkMs, branchProb: f.branchProb, seed: f.seed, timeoutS: f.timeout, warmup: f.warmup,
        ...(f.concurrency === undefined ? {} : { concurrency: f.concurrency }),
        ...(f.outputTokens === undefined ? {} : { outputTokens: f.outputTokens }),
        ...optional(f),
      },
      { signal, onProgress: f.json ? undefined : progressTurns },
    ), formatMultiturnReport);
  }
  return runAndReport<BenchServeReport>(f.json ?? false, (signal) => runLoad(
    {
      url: f.url, concurrency: f.concurrency ?? 1, requests: f.requests, promptTokens: f.promptTokens,
      outputTokens: f.outputTokens ?? 128, seed: f.seed, timeoutS: f.timeout, warmup: f.warmup, ...optional(f),
    },
    { signal, onProgress: f.json ? undefined : progress },
  ), formatReport);
}

/** Adds `bench serve` (and the `bench` group, unless another command file already added it). */
export function registerBenchServe(program: Command): void {
  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('benchmarks');
  bench
    .command('serve')
    .description('closed-loop streaming load on an OpenAI-compatible server: TTFT, TPOT, ITL, E2E percentiles, tokens/s')
    .requiredOption('--url <url>', 'server base URL, e.g. http://127.0.0.1:8000')
    .option('--workload <kind>', 'fixed: independent prompts of --prompt-tokens; multiturn: agent sessions resending a growing context (prefix-cache hit rate vs oracle)', workload, 'fixed')
    .option('--concurrency <n>', 'requests in flight (closed loop); multiturn: sessions in flight (default: 1; multiturn: --sessions)', intOption('--concurrency', 1))
    .option('--requests <n>', 'measured requests (fixed)', intOption('--requests', 1), 100)
    .option('--prompt-tokens <n>', 'prompt length in tokens (fixed; about; the report gives the real mean)', intOption('--prompt-tokens', 1), 256)
    .option('--output-tokens <n>', 'output tokens per request (max_tokens with ignore_eos) (default: 128; multiturn: 32)', intOption('--output-tokens', 1))
    .option('--sessions <n>', 'multiturn: simulated agent sessions', intOption('--sessions', 1), 8)
    .option('--turns <n>', 'multiturn: turns per session', intOption('--turns', 1), 6)
    .option('--system-tokens <n>', 'multiturn: shared system prompt length in tokens (about)', intOption('--system-tokens', 1), 300)
    .option('--turn-tokens <n>', 'multiturn: new user message per turn in tokens (about)', intOption('--turn-tokens', 1), 64)
    .option('--think-ms <ms>', 'multiturn: think time between a session\'s turns', nonNegative('--think-ms'), 200)
    .option('--branch-prob <p>', 'multiturn: probability that a turn forks from an earlier turn than the latest', probability, 0.2)
    .option('--model <name>', 'model name to send (default: the first of GET /v1/models)')
    .option('--api-key <key>', 'sent as Authorization: Bearer <key>')
    .option('--seed <n>', 'prompt seed', intOption('--seed', 0), 0)
    .option('--timeout <s>', 'per-request limit in seconds, send to end of stream', positiveSeconds, 600)
    .option('--warmup <n>', 'unmeasured requests first (they calibrate prompt length)', intOption('--warmup', 0), 1)
    .option('--json', 'print one JSON object (keys: see serving/load-report.ts; multiturn: serving/multiturn.ts)')
    .action((f: BenchServeFlags) => benchServeCommand(f));
}
