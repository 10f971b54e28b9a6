/** `tandem make-tiny`: write a tiny random checkpoint, refusing to overwrite files already in --out. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import { makeTiny, TINY_FILES } from '../testing/tiny-model.js';

export interface MakeTinyFlags {
  readonly out: string;
  readonly pattern?: string;
  readonly moe?: boolean;
  readonly seed: number;
  readonly dtype: 'f32' | 'f16' | 'bf16';
  readonly context: number;
}

/** --out must be a new or existing directory that holds none of the files make-tiny writes (nothing is overwritten). */
function checkOut(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new TandemError('BAD_ARGUMENT', `--out ${out} is a file, not a directory; choose a new directory`);
  const clash = TINY_FILES.filter((f) => existsSync(join(out, f)));
  if (clash.length > 0) {
    throw new TandemError('BAD_ARGUMENT', `--out ${out} already holds ${clash.join(', ')}; make-tiny never overwrites files: choose a new directory or delete them`);
  }
}

export function makeTinyCommand(f: MakeTinyFlags): void {
  checkOut(f.out);
  const cfg = makeTiny(f.out, { pattern: f.pattern, moe: f.moe, seed: f.seed, dtype: f.dtype, maxPositions: f.context });
  process.stdout.write(`wrote ${f.out} (HF directory + model.gguf): ${cfg.layers.length} layers, vocab ${cfg.vocabSize}\n`);
}
