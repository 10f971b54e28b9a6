/** Parsing helpers for CLI option values: every bad value is a one-line BAD_ARGUMENT naming the flag. */
import { TandemError } from '../errors.js';

export function intOption(flag: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new TandemError('BAD_ARGUMENT', `${flag} must be an integer ≥ ${min}, got "${v}"`);
    }
    return n;
  };
}

export function numberOption(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new TandemError('BAD_ARGUMENT', `${flag} must be a number, got "${v}"`);
    return n;
  };
}

export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** "1 2 3" or "1,2,3" → [1, 2, 3]. */
export function parseTokenList(v: string): number[] {
  const parts = v.trim().split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) throw new TandemError('BAD_INPUT', '--tokens is empty: give token ids separated by spaces, e.g. --tokens "1 42 7"');
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new TandemError('BAD_INPUT', `--tokens: "${p}" is not a token id (non-negative integer)`);
    return Number(p);
  });
}
