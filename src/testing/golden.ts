/**
 * Golden fixtures (tests/golden): tiny models made by `makeTiny` plus full-vocabulary logprobs made by llama.cpp.
 * Each golden JSON carries a format tag, a version and the command that regenerates it; a stale version fails with
 * that hint.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Rng } from './rng.js';

export const GOLDEN_FORMAT = 'tandem-golden';
export const GOLDEN_VERSION = 1;
export const REGENERATE = 'npm run golden';

export interface GoldenFixture {
  readonly name: 'dense' | 'moe';
  readonly pattern: string;
  readonly seed: number;
}

export const FIXTURES: readonly GoldenFixture[] = [
  { name: 'dense', pattern: 'M*M-M-*M', seed: 11 },
  { name: 'moe', pattern: 'ME*EME', seed: 12 },
];

export interface GoldenFile {
  readonly format: string;
  readonly version: number;
  readonly generator: string;
  readonly regenerate: string;
  readonly fixture: string;
  readonly tokens: number[];
  /** llama.cpp state saved after this many tokens and restored into a fresh context for the rest. */
  readonly restoreAt: number;
  readonly logprobs: number[][];
}

/** Repository root (works from src/ and from dist/src/). */
export function repoRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.replace(/\/(dist\/)?src\/testing\/$/, '');
}

export function goldenDir(): string {
  return `${repoRoot()}/tests/golden`;
}

/** The token sequence every fixture is evaluated on: BOS then pseudo-random ids over the whole vocabulary. */
export function goldenTokens(vocabSize: number, count = 40): number[] {
  const rng = new Rng(1234);
  return [1, ...Array.from({ length: count - 1 }, () => rng.int(vocabSize))];
}

export function readGolden(name: string): GoldenFile {
  const g = JSON.parse(readFileSync(`${goldenDir()}/${name}.golden.json`, 'utf8')) as GoldenFile;
  if (g.format !== GOLDEN_FORMAT || g.version !== GOLDEN_VERSION) {
    throw new Error(`golden file ${name} is version ${g.version} of ${g.format}; expected ${GOLDEN_VERSION}: regenerate with \`${REGENERATE}\``);
  }
  return g;
}
