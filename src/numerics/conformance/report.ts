/** Printing conformance results: one line per failing case, and a table for the `run.js` script. */
import type { CaseResult, Tolerance } from './compare.js';

const num = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(7))) : String(v));
const err = (v: number): string => (v === 0 ? '0' : Number.isFinite(v) ? v.toExponential(2) : String(v));
const tol = (t: Tolerance): string => `abs ${err(t.abs)} + rel ${err(t.rel)}`;

/**
 * One line for a failing case: what failed, max abs / rel error against the tolerance, the first bad index and the
 * expected vs actual value there, e.g.
 * `FAIL matmul/q4_k/37x256/T3 [matmul q4_k]: max abs 1.00e+0, max rel 2.31e+0 (tolerance abs 1.00e-4 + rel 1.00e-4); first bad out[5]: expected 0.4329, got 1.4329`.
 */
export function formatFailure(r: CaseResult): string {
  const head = `FAIL ${r.case} [${r.op} ${r.format}]: `;
  if (r.error) return `${head}${r.error}`;
  return `${head}max abs ${err(r.maxAbs)}, max rel ${err(r.maxRel)} (tolerance ${tol(r.tolerance)}); first bad ${r.output}[${r.firstBadIndex}]: expected ${num(r.expected)}, got ${num(r.got)}`;
}

/** One line for any result: `ok` lines carry the measured errors (tests print these, per the tolerance-table rule). */
export function formatResult(r: CaseResult): string {
  return r.pass ? `ok   ${r.case}: max abs ${err(r.maxAbs)}, max rel ${err(r.maxRel)} (tolerance ${tol(r.tolerance)})` : formatFailure(r);
}

/** A fixed-width table: case, max abs, max rel, tolerance, ok; failures repeated below it in full. */
export function formatTable(results: readonly CaseResult[]): string {
  const w = Math.max(4, ...results.map((r) => r.case.length));
  const row = (c: string, a: string, rel: string, t: string, ok: string): string => `${c.padEnd(w)}  ${a.padStart(9)}  ${rel.padStart(9)}  ${t.padEnd(26)}  ${ok}`;
  const lines = [row('case', 'max abs', 'max rel', 'tolerance', 'ok'), '-'.repeat(w + 56)];
  for (const r of results) lines.push(row(r.case, err(r.maxAbs), err(r.maxRel), tol(r.tolerance), r.pass ? 'ok' : 'FAIL'));
  const failed = results.filter((r) => !r.pass);
  lines.push('', `${results.length - failed.length} of ${results.length} cases pass`);
  for (const r of failed) lines.push(formatFailure(r));
  return lines.join('\n');
}
