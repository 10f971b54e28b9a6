/** `tandem logprobs`: JSON {"tokens":[...],"logprobs":[[...V],...]} — full-vocabulary log-softmax at every position. */
import { openBackend, type BackendFlags } from './backend-flags.js';
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TandemError } from '../errors.js';
import { loadModel } from '../engine/load-model.js';
import { sequenceLogprobs } from '../engine/logprobs.js';
import { defaultModelPath } from './default-model.js';
import { parseTokenList } from './options.js';

export interface LogprobsFlags extends BackendFlags {
  readonly model?: string;
  readonly tokens: string;
  readonly out?: string;
}

/** Fail before any work when --out cannot be written: its folder must exist and it must not be a directory. */
function checkOut(out: string): void {
  const dir = dirname(out);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TandemError('BAD_ARGUMENT', `--out ${out}: folder ${dir} does not exist; create it first or choose another path`);
  }
  if (existsSync(out) && statSync(out).isDirectory()) {
    throw new TandemError('BAD_ARGUMENT', `--out ${out} is a directory; give a file path such as ${out}/logprobs.json`);
  }
}

/** Write through a temporary file and rename, so a failed write never leaves a half file (or eats an old one). */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new TandemError('BAD_ARGUMENT', `cannot write --out ${path} (${code}); check the folder's permissions and free disk space`);
  }
}

export async function logprobsCommand(f: LogprobsFlags): Promise<void> {
  const tokens = parseTokenList(f.tokens);
  if (f.out) checkOut(f.out);
  const path = f.model ?? defaultModelPath((m) => process.stderr.write(m + '\n'));
  const { model } = loadModel(path, { backend: await openBackend(f) });
  const rows = sequenceLogprobs(model, tokens);
  const json = `{"tokens":${JSON.stringify(tokens)},"logprobs":[${rows.map((r) => `[${Array.from(r).join(',')}]`).join(',')}]}\n`;
  if (f.out) writeAtomic(f.out, json);
  else process.stdout.write(json);
}
