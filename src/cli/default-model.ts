/**
 * The embedded default model: for now a tiny random Nemotron-H generated once (deterministically) into a cache folder
 * ($TANDEM_CACHE, else $XDG_CACHE_HOME/tandem, else ~/.cache/tandem). A trained default comes later.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { makeTiny } from '../testing/tiny-model.js';

export const DEFAULT_MODEL_NAME = 'tiny-default-v1';

export function cacheDir(): string {
  return process.env.TANDEM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tandem');
}

/** Path of the default model's HF directory, generating it on first use. */
export function defaultModelPath(log: (msg: string) => void): string {
  const dir = join(cacheDir(), DEFAULT_MODEL_NAME);
  if (existsSync(join(dir, 'model.gguf'))) return dir;
  log(`tandem: generating the default tiny model into ${dir} (once)`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  makeTiny(tmp, { pattern: 'M*M-M-*M', seed: 0 });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}
