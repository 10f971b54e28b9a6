/**
 * `npm run bench`: the table of docs/performance.md — Tandem vs llama.cpp (node-llama-cpp 3.21.1), prefill and decode
 * tokens/s, per weight format, per thread count, each row one `tandem bench --vs llama` run (the two engines
 * alternating in one process tree, so a shared machine's noise hits both). Flags (all optional):
 *
 *   --model <gguf>        benchmark this GGUF (repeatable; e.g. from `tandem make-synthetic`). Default: a generated
 *                         8.5M-parameter hybrid (M*M-M-M-, hidden 512), written as GGUF in each of --formats
 *   --formats f32,f16,q8_0,q4_0   formats of the generated model (GGUF types of `tandem quantize`)
 *   --threads 1,2         thread counts (a backend that cannot use a count gets a "not run" line instead of a row)
 *   --backend auto        Tandem backend (auto | ref | wasm)
 *   --prompt-tokens 128  --decode-tokens 32  --reps 3  --bandwidth-mib 1024
 *   --write               replace the generated section of docs/performance.md (between its bench-table markers)
 *   --json                print every report as JSON instead of the markdown
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchBackendName } from '../src/bench/backend-choice.js';
import { llamaAvailable, LLAMA_VERSION } from '../src/bench/llama-runner.js';
import { benchModel, type ModelBenchReport } from '../src/bench/model-bench.js';
import { loadModel } from '../src/engine/load-model.js';
import { GGUF_FORMATS, type QuantFormat } from '../src/engine/quantize.js';
import { writeQuantizedGguf } from '../src/engine/quantize-write.js';
import { isTandemError } from '../src/errors.js';
import { makeTiny } from '../src/testing/tiny-model.js';

const DOC = new URL('../../docs/performance.md', import.meta.url); // from dist/bench/
const BEGIN = '<!-- bench-table:begin -->';
const END = '<!-- bench-table:end -->';

/** The generated benchmark model: the medium hybrid the old ref-speed bench used. */
const MEDIUM = {
  pattern: 'M*M-M-M-',
  overrides: {
    hidden_size: 512, mamba_num_heads: 16, mamba_head_dim: 32, ssm_state_size: 64, n_groups: 4,
    num_attention_heads: 8, num_key_value_heads: 2, head_dim: 64, intermediate_size: 1024, chunk_size: 64,
  },
} as const;

interface Args {
  readonly models: readonly string[];
  readonly formats: readonly QuantFormat[];
  readonly threads: readonly number[];
  readonly backend: BenchBackendName;
  readonly promptTokens: number;
  readonly decodeTokens: number;
  readonly reps: number;
  readonly bandwidthMib: number;
  readonly write: boolean;
  readonly json: boolean;
}

function int(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

function parse(): Args {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', multiple: true }, formats: { type: 'string', default: 'f32,f16,q8_0,q4_0' },
      threads: { type: 'string', default: '1,2' }, backend: { type: 'string', default: 'auto' },
      'prompt-tokens': { type: 'string', default: '128' }, 'decode-tokens': { type: 'string', default: '32' },
      reps: { type: 'string', default: '3' }, 'bandwidth-mib': { type: 'string', default: '1024' },
      write: { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
    },
  });
  const formats = values.formats.split(',').map((f) => {
    if (!(GGUF_FORMATS as readonly string[]).includes(f)) throw new Error(`--formats: ${f} is not one of ${GGUF_FORMATS.join(', ')}`);
    return f as QuantFormat;
  });
  if (!['auto', 'ref', 'wasm', 'native'].includes(values.backend)) throw new Error(`--backend must be auto, ref, wasm or native, got "${values.backend}"`);
  return {
    models: values.model ?? [], formats, threads: values.threads.split(',').map((t) => int('--threads', t, 1)),
    backend: values.backend as BenchBackendName, promptTokens: int('--prompt-tokens', values['prompt-tokens'], 1),
    decodeTokens: int('--decode-tokens', values['decode-tokens'], 1), reps: int('--reps', values.reps, 1),
    bandwidthMib: int('--bandwidth-mib', values['bandwidth-mib'], 0), write: values.write, json: values.json,
  };
}

/** The generated model in every requested format: [label, GGUF path]. */
function generateModels(dir: string, formats: readonly QuantFormat[]): Array<[string, string]> {
  const hf = join(dir, 'medium');
  makeTiny(hf, { pattern: MEDIUM.pattern, seed: 0, overrides: MEDIUM.overrides });
  const loaded = loadModel(hf);
  return formats.map((f) => {
    const out = join(dir, `medium-${f}.gguf`);
    process.stderr.write(`writing ${basename(out)}\n`);
    writeQuantizedGguf(loaded, { format: f, out, keep: [] });
    return [`hybrid 8.5M ${MEDIUM.pattern}`, out];
  });
}

interface Row {
  readonly label: string;
  readonly threads: number;
  readonly report?: ModelBenchReport;
  readonly skipped?: string;
}

async function runRow(label: string, path: string, threads: number, a: Args, vsLlama: boolean): Promise<Row> {
  process.stderr.write(`\n== ${label} · ${basename(path)} · ${threads} thread(s)\n`);
  try {
    const report = await benchModel({
      model: path, backend: a.backend, threads, promptTokens: a.promptTokens, decodeTokens: a.decodeTokens,
      batch: a.promptTokens, reps: a.reps, vsLlama, bandwidthBytes: a.bandwidthMib * 2 ** 20,
      log: (l) => void process.stderr.write(l + '\n'),
    });
    return { label, threads, report };
  } catch (e) {
    if (!isTandemError(e)) throw e;
    process.stderr.write(`not run: ${e.message}\n`);
    return { label, threads, skipped: e.message.split(';')[0]! };
  }
}

const f1 = (x: number): string => x.toFixed(x >= 100 ? 0 : 1);
const pct = (x: number | null): string => (x === null ? '–' : `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`);
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
const formatsOf = (r: ModelBenchReport): string => Object.keys(r.model.bytesByFormat).filter((k) => k !== 'f32' || Object.keys(r.model.bytesByFormat).length === 1).join('+');

function tableRow(row: Row): string {
  const r = row.report;
  if (!r) return `| ${row.label} | | | ${row.threads} | not run (${row.skipped ?? ''}) | | | | | | | |`;
  const l = r.llama;
  return [
    '', row.label, formatsOf(r), mib(r.model.weightBytes), r.threads,
    f1(r.tandem.prefill), l ? f1(l.prefill) : '–', r.ratio ? `${r.ratio.prefill.toFixed(2)}×` : '–',
    f1(r.tandem.decode), l ? f1(l.decode) : '–', r.ratio ? `${r.ratio.decode.toFixed(2)}×` : '–',
    `${pct(r.tandem.decodeRooflineRatio)} / ${l ? pct(l.decodeRooflineRatio) : '–'}`,
    r.bandwidth ? r.bandwidth.readGBs.toFixed(1) : '–', '',
  ].join(' | ').trim();
}

function markdown(rows: readonly Row[], a: Args, vsLlama: boolean): string {
  const cpu = cpus();
  const backend = rows.find((r) => r.report)?.report?.backend ?? a.backend;
  return [
    `Generated by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, ` +
      `Tandem backend \`${backend}\`, ${vsLlama ? `llama.cpp through node-llama-cpp ${LLAMA_VERSION}` : 'llama.cpp not installed (Tandem only)'}; ` +
      `prompt ${a.promptTokens} tokens in one batch, ${a.decodeTokens} decode tokens, best of ${a.reps} alternating rounds.`,
    '',
    '| model | format | weights | threads | prefill tok/s Tandem | llama.cpp | ratio | decode tok/s Tandem | llama.cpp | ratio | decode roofline Tandem / llama.cpp | read GB/s |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(tableRow),
  ].join('\n');
}

function writeDoc(table: string): void {
  const doc = readFileSync(DOC, 'utf8');
  const i = doc.indexOf(BEGIN);
  const j = doc.indexOf(END);
  if (i < 0 || j < i) throw new Error(`docs/performance.md has no ${BEGIN} … ${END} section to replace`);
  writeFileSync(DOC, `${doc.slice(0, i + BEGIN.length)}\n${table}\n${doc.slice(j)}`);
  process.stderr.write('updated docs/performance.md\n');
}

async function main(): Promise<void> {
  const a = parse();
  const vsLlama = llamaAvailable();
  const tmp = mkdtempSync(join(tmpdir(), 'tandem-perf-'));
  try {
    const models: Array<[string, string]> = a.models.length > 0 ? a.models.map((m) => [basename(m, '.gguf'), m]) : generateModels(tmp, a.formats);
    const rows: Row[] = [];
    for (const [label, path] of models) for (const t of a.threads) rows.push(await runRow(label, path, t, a, vsLlama));
    if (a.json) return void process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    const table = markdown(rows, a, vsLlama);
    process.stdout.write(table + '\n');
    if (a.write) writeDoc(table);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
