/**
 * Shared helpers for the end-to-end CLI suites: spawn the built CLI (dist/src/cli/main.js, found relative to this
 * compiled file), scratch directories that are removed afterwards, and copies of the committed fixtures to corrupt.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { goldenDir } from '../src/testing/golden.js';
import { spawnCli } from '../src/testing/cli-process.js';

/** dist/tests/cli-helpers.js → dist/src/cli/main.js */
export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Scratch directories for one suite; `cleanup()` removes them all. */
export function scratch(prefix: string): { dir: (name?: string) => string; cleanup: () => void } {
  const made: string[] = [];
  return {
    dir: (name = 'x') => {
      const d = mkdtempSync(join(tmpdir(), `tandem-${prefix}-${name}-`));
      made.push(d);
      return d;
    },
    cleanup: () => made.forEach((d) => rmSync(d, { recursive: true, force: true })),
  };
}

/** A TANDEM_CACHE for spawned CLIs, so tests never touch the user's cache. */
const defaultCache = mkdtempSync(join(tmpdir(), 'tandem-cli-cache-'));
process.on('exit', () => rmSync(defaultCache, { recursive: true, force: true }));

function env(cache?: string): NodeJS.ProcessEnv {
  return { ...process.env, TANDEM_CACHE: cache ?? defaultCache, NODE_OPTIONS: '' };
}

/** Run the CLI synchronously. */
export function cli(args: readonly string[], opts: { cache?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: env(opts.cache), timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run the CLI without blocking, so independent cases can overlap. */
export function cliAsync(args: readonly string[], opts: { cache?: string } = {}): Promise<CliResult> {
  return spawnCli(args, { env: env(opts.cache) });
}

/** Asserts exit 0 and shows stderr when it is not. */
export function assertOk(r: CliResult): void {
  assert.equal(r.status, 0, `expected exit 0, got ${r.status}; stderr:\n${r.stderr}`);
}

/**
 * Asserts the developer rule for bad input: exit 1, stderr is one line `error[CODE]: …` (commander's own errors:
 * `error: …`), it matches `hint`, and there is no stack trace.
 */
export function assertUserError(r: CliResult, hint: RegExp, opts: { commander?: boolean; code?: string } = {}): void {
  const shown = `stderr:\n${r.stderr}`;
  assert.equal(r.status, 1, `expected exit 1, got ${r.status}; ${shown}`);
  assert.doesNotMatch(r.stderr, /^ {4}at /m, `stack trace in ${shown}`);
  assert.doesNotMatch(r.stderr, /node:internal/, `stack trace in ${shown}`);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `expected one line, ${shown}`);
  const line = lines[0]!;
  assert.match(line, opts.commander ? /^error: / : /^error\[[A-Z_]+\]: /, shown);
  if (opts.code !== undefined) assert.ok(line.startsWith(`error[${opts.code}]: `), `expected code ${opts.code}; ${shown}`);
  assert.match(line, hint, shown);
}

/** A fresh copy of a committed fixture (tests/golden/{dense,moe}) to corrupt. */
export function fixtureCopy(name: 'dense' | 'moe', into: string): string {
  const dir = join(into, name);
  cpSync(join(goldenDir(), name), dir, { recursive: true });
  return dir;
}

/** Rewrite DIR/config.json with some keys replaced. */
export function editConfig(dir: string, patch: Record<string, unknown>): void {
  const p = join(dir, 'config.json');
  const cfg = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  writeFileSync(p, JSON.stringify({ ...cfg, ...patch }, null, 2));
}

/** log(Σ exp(row)), computed stably. */
export function logSumExp(row: readonly number[]): number {
  const m = Math.max(...row);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  return m + Math.log(s);
}
