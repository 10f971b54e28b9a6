/**
 * `tandem make-synthetic`: write a random-weight GGUF with the real widths of a Nemotron hybrid (benchmarks, big-file
 * tests). Checks --out (a new .gguf in a writable directory with room for the file) before drawing any weight, prints
 * the parameter count and expected size, shows a progress bar on a terminal, and never overwrites a file.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import { TandemError } from '../errors.js';
import { layerPattern } from '../formats/config.js';
import { planSynthetic, writeSynthetic, type SyntheticModel } from '../testing/synthetic-model.js';
import { SYNTHETIC_FORMATS, SYNTHETIC_SHAPE_NAMES } from '../testing/synthetic-shapes.js';
import { humanBytes } from './inspect.js';
import { intOption } from './options.js';

export interface MakeSyntheticFlags {
  readonly shape: string;
  readonly format: string;
  readonly out: string;
  readonly layers?: number;
  readonly pattern?: string;
  readonly seed: number;
  readonly context?: number;
  /** Hidden, for tests: a JSON object of config.json keys that replace the shape's (e.g. smaller widths). */
  readonly override?: string;
}

function parseOverride(v: string | undefined): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch {
    o = undefined;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new TandemError('BAD_ARGUMENT', `--override must be a JSON object of config.json keys, e.g. '{"hidden_size":256}', got ${v}`);
  }
  return o as Record<string, unknown>;
}

/** --out must be a new .gguf path in a directory we can write (created if missing). */
function checkOut(out: string): void {
  if (!out.endsWith('.gguf')) throw new TandemError('BAD_ARGUMENT', `--out ${out} must be a file name ending in .gguf`);
  if (existsSync(out)) throw new TandemError('BAD_ARGUMENT', `--out ${out} already exists; make-synthetic never overwrites: choose a new path or delete it`);
  const dir = dirname(resolve(out));
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ENOTDIR';
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission denied' : 'cannot create it';
    throw new TandemError('BAD_ARGUMENT', `--out ${out} is not writable: cannot write into directory ${dir} (${code}: ${why}); choose a writable location`);
  }
}

/** Refuse to start when the file system cannot hold the file (plus 64 MiB of slack). */
function checkSpace(out: string, bytes: number): void {
  const fsStat = statfsSync(dirname(resolve(out)));
  const free = fsStat.bavail * fsStat.bsize;
  if (bytes + (64 << 20) > free) {
    throw new TandemError('BAD_ARGUMENT', `--out ${out} needs about ${humanBytes(bytes)} but only ${humanBytes(free)} is free there; choose another location, fewer --layers or a smaller --format`);
  }
}

function describePlan(m: SyntheticModel, out: string): string {
  const c = m.config;
  const lines = [
    `${m.shape.name} in ${m.format}: ${c.layers.length} layers ${layerPattern(c)}, hidden ${c.hiddenSize}, vocab ${c.vocabSize}`,
    `${m.plan.params.toLocaleString('en-US')} parameters, about ${humanBytes(m.plan.dataBytes)} → ${out}`,
  ];
  if (!c.layers.includes('attention')) lines.push('note: no attention (*) layer: Tandem runs this model, but llama.cpp (node-llama-cpp 3.21.1) aborts on a model without a KV cache');
  if (m.plan.fallbacks.length > 0) lines.push(`${m.plan.fallbacks.length} matrices stored in another type: ${m.plan.fallbacks.slice(0, 3).join('; ')}${m.plan.fallbacks.length > 3 ? '; …' : ''}`);
  return lines.join('\n') + '\n';
}

/** A byte-based progress bar on stderr when it is a terminal; nothing otherwise. */
function progressBar(): { update: (written: number, total: number, name: string) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: 'make-synthetic [{bar}] {percentage}% {done}/{size} {name}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (written, total, name) => {
      const payload = { done: humanBytes(written), size: humanBytes(total), name: name.length > 32 ? `…${name.slice(-31)}` : name };
      if (!started) bar.start(total, 0, payload);
      started = true;
      bar.update(written, payload);
    },
    stop: () => bar.stop(),
  };
}

export function makeSyntheticCommand(f: MakeSyntheticFlags): void {
  const m = planSynthetic(f.shape, f.format, f.seed, { pattern: f.pattern, layers: f.layers, maxPositions: f.context, overrides: parseOverride(f.override) });
  checkOut(f.out);
  checkSpace(f.out, m.plan.dataBytes);
  process.stdout.write(describePlan(m, f.out));
  const bar = progressBar();
  const t0 = performance.now();
  let bytes: number;
  try {
    bytes = writeSynthetic(f.out, m, { onProgress: bar.update });
  } finally {
    bar.stop();
  }
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(`wrote ${f.out}: ${bytes} bytes (${humanBytes(bytes)}) in ${s.toFixed(1)} s\n`);
}

export function registerMakeSynthetic(p: Command): void {
  p.command('make-synthetic')
    .description('write a random-weight GGUF with the real widths of a Nemotron hybrid, cut to a few layers (benchmarks)')
    .requiredOption('--shape <name>', SYNTHETIC_SHAPE_NAMES.join(' | '))
    .requiredOption('--format <format>', `storage of the linear weights: ${SYNTHETIC_FORMATS.join(' | ')} (norms and small tensors stay f32)`)
    .requiredOption('--out <file>', 'a new .gguf file')
    .option('--layers <n>', 'repeat or cut the layer pattern to n layers', intOption('--layers', 1))
    .option('--pattern <layers>', 'layer schedule over M * - E (default: the shape\'s)')
    .option('--seed <n>', 'random seed (same seed, same file)', intOption('--seed', 0), 0)
    .option('--context <n>', 'max_position_embeddings (default: the real model\'s)', intOption('--context', 16))
    .addOption(new Option('--override <json>', 'config.json keys replacing the shape\'s (tests)').hideHelp())
    .action((f: MakeSyntheticFlags) => makeSyntheticCommand(f));
}
