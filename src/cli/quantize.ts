/** `tandem quantize`: rewrite a model in FP8 / NVFP4 (ModelOpt HF layout) or a ggml type (GGUF), with a progress bar. */
import { existsSync, readFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { TandemError } from '../errors.js';
import { loadModel, type LoadedModel } from '../engine/load-model.js';
import { HF_FORMATS, calibrate, parseQuantFormat, type QuantizeReport } from '../engine/quantize.js';
import { writeModelOptDir, writeQuantizedGguf } from '../engine/quantize-write.js';
import { TINY_CORPUS } from '../text/tiny-tokenizer.js';

export interface QuantizeFlags {
  readonly model: string;
  readonly format: string;
  readonly out: string;
  readonly keep?: string[];
  readonly calib?: string;
  readonly calibTokens: number;
}

/** Calibration tokens: --calib FILE, else a built-in paragraph, through the model's tokenizer. */
function calibrationTokens(loaded: LoadedModel, f: QuantizeFlags): number[] {
  if (f.calib && !existsSync(f.calib)) throw new TandemError('NOT_FOUND', `--calib ${f.calib} does not exist`);
  const text = f.calib ? readFileSync(f.calib, 'utf8') : TINY_CORPUS;
  const ids = loaded.tokenizer().encode(text).slice(0, f.calibTokens);
  if (ids.length === 0) throw new TandemError('BAD_INPUT', `--calib ${f.calib} has no text to calibrate on`);
  return ids;
}

function summary(r: QuantizeReport, out: string): string {
  const lines = [`wrote ${out}: ${r.quantized.length} matrices quantized, ${r.kept.length} kept in source precision`];
  if (r.fallbacks.length > 0) lines.push(`${r.fallbacks.length} fell back: ${r.fallbacks.slice(0, 4).join('; ')}${r.fallbacks.length > 4 ? '; …' : ''}`);
  return lines.join('\n') + '\n';
}

export function quantizeCommand(f: QuantizeFlags): void {
  const format = parseQuantFormat(f.format);
  const keep = f.keep?.length === 1 && f.keep[0] === 'none' ? [] : f.keep;
  if (existsSync(f.out)) {
    throw new TandemError('BAD_ARGUMENT', `--out ${f.out} already exists; quantize never overwrites: choose a new path or delete it`);
  }
  const loaded = loadModel(f.model);
  const hf = (HF_FORMATS as readonly string[]).includes(format);
  const inputAmax = hf ? calibrate(loaded.model, calibrationTokens(loaded, f)) : undefined;
  const bar = new cliProgress.SingleBar({ format: 'quantize [{bar}] {value}/{total} {name}', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
  let started = false;
  const onProgress = (done: number, total: number, name: string): void => {
    if (!started) {
      bar.start(total, 0, { name });
      started = true;
    }
    bar.update(done, { name: name.length > 40 ? `…${name.slice(-39)}` : name });
  };
  try {
    const opts = { format, out: f.out, keep, inputAmax, onProgress };
    const report = hf ? writeModelOptDir(loaded, opts) : writeQuantizedGguf(loaded, opts);
    bar.stop();
    process.stdout.write(summary(report, f.out));
  } finally {
    bar.stop();
  }
}
