/**
 * `tandem bench serve`: closed-loop streaming load against an OpenAI-compatible server (the Tandem server, vLLM, …)
 * and a TTFT / TTST / TPOT / ITL / E2E report; `--json` prints one object with the keys documented in
 * serving/load-report.ts. SIGINT aborts the requests in flight and prints what finished (exit 130); a second
 * SIGINT kills at once.
 */
import type { Command } from 'commander';
import { TandemError } from '../errors.js';
import { formatReport, runLoad, type BenchServeReport } from '../serving/load-generator.js';
import { intOption, numberOption } from './options.js';

export interface BenchServeFlags {
  url: string;
  concurrency: number;
  requests: number;
  promptTokens: number;
  outputTokens: number;
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

export async function benchServeCommand(f: BenchServeFlags): Promise<void> {
  const ac = new AbortController();
  const onSigint = (): void => {
    process.stderr.write('\ninterrupted: aborting requests in flight (Ctrl-C again to quit now)\n');
    ac.abort();
  };
  process.once('SIGINT', onSigint);
  let report: BenchServeReport;
  try {
    report = await runLoad(
      {
        url: f.url, concurrency: f.concurrency, requests: f.requests, promptTokens: f.promptTokens,
        outputTokens: f.outputTokens, seed: f.seed, timeoutS: f.timeout, warmup: f.warmup,
        ...(f.model === undefined ? {} : { model: f.model }),
        ...(f.apiKey === undefined ? {} : { apiKey: f.apiKey }),
      },
      { signal: ac.signal, onProgress: f.json ? undefined : progress },
    );
  } finally {
    process.off('SIGINT', onSigint);
  }
  process.stdout.write((f.json ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
  if (report.interrupted) process.exitCode = 130;
  else if (report.completed === 0) {
    const kinds = Object.entries(report.error_kinds).map(([k, n]) => `${k}: ${n}, e.g. "${report.error_examples[k] ?? ''}"`);
    const line = `error[BAD_ARGUMENT]: all ${report.failed} requests failed (${kinds.join('; ')})`;
    process.stderr.write(line.replace(/\s*\n\s*/g, ' ') + '\n');
    process.exitCode = 1;
  }
}

/** Adds `bench serve` (and the `bench` group, unless another command file already added it). */
export function registerBenchServe(program: Command): void {
  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('benchmarks');
  bench
    .command('serve')
    .description('closed-loop streaming load on an OpenAI-compatible server: TTFT, TPOT, ITL, E2E percentiles, tokens/s')
    .requiredOption('--url <url>', 'server base URL, e.g. http://127.0.0.1:8000')
    .option('--concurrency <n>', 'requests in flight (closed loop)', intOption('--concurrency', 1), 1)
    .option('--requests <n>', 'measured requests', intOption('--requests', 1), 100)
    .option('--prompt-tokens <n>', 'prompt length in tokens (about; the report gives the real mean)', intOption('--prompt-tokens', 1), 256)
    .option('--output-tokens <n>', 'output tokens per request (max_tokens with ignore_eos)', intOption('--output-tokens', 1), 128)
    .option('--model <name>', 'model name to send (default: the first of GET /v1/models)')
    .option('--api-key <key>', 'sent as Authorization: Bearer <key>')
    .option('--seed <n>', 'prompt seed', intOption('--seed', 0), 0)
    .option('--timeout <s>', 'per-request limit in seconds, send to end of stream', positiveSeconds, 600)
    .option('--warmup <n>', 'unmeasured requests first (they calibrate prompt length)', intOption('--warmup', 0), 1)
    .option('--json', 'print one JSON object (keys: see serving/load-report.ts)')
    .action((f: BenchServeFlags) => benchServeCommand(f));
}
