/**
 * `tandem bench [model]`: prefill / decode tokens/s of a model, with thread count, backend, weight bytes, the memory
 * read bandwidth measured in-process and the decode roofline ratio; `--vs llama` runs llama.cpp (node-llama-cpp
 * 3.21.1) on the same GGUF with the same threads, alternating with Tandem, and prints both and the ratio. `--json`
 * prints one object (keys: see src/bench/model-bench.ts). Progress goes to stderr, results to stdout. Without a model
 * it benchmarks the embedded default tiny model (its GGUF, so `--vs llama` works on it too).
 */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { TandemError } from '../errors.js';
import { BENCH_BACKENDS, type BenchBackendName } from '../bench/backend-choice.js';
import { MAX_BANDWIDTH_BYTES } from '../bench/bandwidth.js';
import { benchModel, type EngineResult, type ModelBenchReport } from '../bench/model-bench.js';
import { defaultModelPath } from './default-model.js';
import { humanBytes } from './inspect.js';
import { intOption } from './options.js';

export interface BenchModelFlags {
  readonly promptTokens: number;
  readonly decodeTokens: number;
  readonly batch: number;
  readonly reps: number;
  readonly threads: number;
  readonly backend: BenchBackendName;
  readonly vs?: 'llama';
  readonly bandwidthMib: number;
  readonly json?: boolean;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const rate = (x: number): string => x.toFixed(x >= 100 ? 0 : 1);
const pct = (x: number | null): string => (x === null ? '–' : `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`);

function row(label: string, e: EngineResult): string {
  const cell = (best: number, median: number): string => `${rate(best).padStart(9)} ${`(${rate(median)})`.padStart(9)}`;
  return `${label.padEnd(10)} ${cell(e.prefill, e.prefillMedian)}   ${cell(e.decode, e.decodeMedian)}   ${pct(e.decodeRooflineRatio).padStart(8)}`;
}

function headerLines(r: ModelBenchReport): string[] {
  const m = r.model;
  const formats = Object.entries(m.bytesByFormat).map(([k, v]) => `${k} ${humanBytes(v)}`).join(', ');
  const lines = [
    `model      ${m.path} (${m.format}, ${(m.params / 1e6).toFixed(2)}M params, weights ${humanBytes(m.weightBytes)}: ${formats})`,
    `settings   backend ${r.backend}${r.isa ? ` (${r.isa})` : ''} · ${plural(r.threads, 'thread')} · prompt ${r.promptTokens} tokens (batch ${r.batch}) · decode ${r.decodeTokens} tokens · ${plural(r.reps, 'round')}${r.llama ? ', engines alternating' : ''}`,
  ];
  const b = r.bandwidth;
  lines.push(b
    ? `bandwidth  ${b.readGBs.toFixed(1)} GB/s read (best of ${b.passes} passes, median ${b.medianGBs.toFixed(1)}) · ${plural(b.threads, 'thread')} · ${humanBytes(b.bufferBytes)} buffer`
    : 'bandwidth  not measured (--bandwidth-mib 0)');
  if (r.roofline) lines.push(`roofline   ${humanBytes(r.roofline.bytesPerToken)} of weights per decode token → ${rate(r.roofline.decode)} tok/s at ${r.roofline.readGBs.toFixed(1)} GB/s`);
  if (r.llama) lines.push(`llama.cpp  node-llama-cpp ${r.llama.version} · ${plural(r.llama.threads, 'thread')} · model loaded in ${(r.llama.loadMs / 1000).toFixed(2)} s`);
  return lines;
}

/** The text report: settings, then one row per engine (best run, median in parentheses) and the ratio. */
export function formatBenchModel(r: ModelBenchReport): string {
  const lines = [...headerLines(r), '', `${''.padEnd(10)} ${'prefill tok/s'.padStart(19)}   ${'decode tok/s'.padStart(19)}   ${'roofline'.padStart(8)}`];
  lines.push(row('tandem', r.tandem));
  if (r.llama) lines.push(row('llama.cpp', r.llama));
  if (r.ratio) lines.push(`${'ratio'.padEnd(10)} ${`${r.ratio.prefill.toFixed(2)}×`.padStart(9)} ${''.padStart(9)}   ${`${r.ratio.decode.toFixed(2)}×`.padStart(9)}`);
  lines.push('', `tok/s: best run (median); roofline: best decode ÷ (read bandwidth ÷ weight bytes per token)${r.ratio ? '; ratio: tandem ÷ llama.cpp' : ''}`);
  return lines.join('\n');
}

function bandwidthMib(v: string): number {
  const n = intOption('--bandwidth-mib', 0)(v);
  if (n * 2 ** 20 > MAX_BANDWIDTH_BYTES) throw new TandemError('BAD_ARGUMENT', `--bandwidth-mib must be at most ${Math.floor(MAX_BANDWIDTH_BYTES / 2 ** 20)} (a wasm32 memory), got "${v}"`);
  return n;
}

export async function benchModelCommand(modelArg: string | undefined, f: BenchModelFlags): Promise<void> {
  const log = (line: string): void => void process.stderr.write(line + '\n');
  const model = modelArg ?? join(defaultModelPath(log), 'model.gguf');
  const report = await benchModel({
    model, backend: f.backend, threads: f.threads, promptTokens: f.promptTokens, decodeTokens: f.decodeTokens,
    batch: f.batch, reps: f.reps, vsLlama: f.vs === 'llama', bandwidthBytes: f.bandwidthMib * 2 ** 20, log,
  });
  process.stdout.write((f.json ? JSON.stringify(report, null, 2) : formatBenchModel(report)) + '\n');
}

/**
 * Makes `bench` itself runnable (`tandem bench [model]`) next to its subcommands (`bench serve`). Options are
 * positional, so `bench serve --json` stays the subcommand's flag (this needs the root program positional too).
 */
export function registerBenchModel(program: Command): void {
  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench');
  bench
    .description('prefill/decode tokens/s of a model, memory bandwidth and decode roofline; --vs llama compares with llama.cpp (subcommands: serve)')
    .enablePositionalOptions()
    .argument('[model]', 'HF model directory or .gguf file (default: the embedded tiny model\'s GGUF)')
    .option('--prompt-tokens <n>', 'prompt length in tokens', intOption('--prompt-tokens', 1), 512)
    .option('--decode-tokens <n>', 'single-token decode steps after the prompt', intOption('--decode-tokens', 1), 128)
    .option('--batch <n>', 'prompt tokens per forward pass (Tandem) and llama.cpp batch size', intOption('--batch', 1), 512)
    .option('--reps <n>', 'timed rounds (with --vs llama each round runs both engines, alternating)', intOption('--reps', 1), 3)
    .option('--threads <n>', 'compute threads (the same for llama.cpp and the bandwidth probe)', intOption('--threads', 1), 1)
    .addOption(new Option('--backend <name>', 'Tandem backend (auto = best available)').choices([...BENCH_BACKENDS]).default('auto'))
    .addOption(new Option('--vs <engine>', 'also run another engine on the same GGUF and print the ratio').choices(['llama']))
    .option('--bandwidth-mib <n>', 'bandwidth probe buffer in MiB (≥ 1024 to measure DRAM, not cache; 0 = skip)', bandwidthMib, 1024)
    .option('--json', 'print one JSON object (keys: see src/bench/model-bench.ts)')
    .action((model: string | undefined, f: BenchModelFlags) => benchModelCommand(model, f));
}
