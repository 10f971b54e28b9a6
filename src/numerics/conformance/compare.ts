/**
 * The conformance contract: a case runs one op (or one short composition of ops) on a backend and returns its named
 * outputs; `runConformance` runs every case on the backend under test and on the oracle and compares the outputs
 * element by element with the case's tolerance (`|got − expected| ≤ abs + rel·|expected|`, as numpy's allclose).
 * NaN and ±Inf must match exactly (same class, same sign); read-only inputs must come back unmodified.
 */
import type { Backend } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { TOLERANCE } from '../tolerances.js';

/** Absolute and relative error budget of one output. */
export interface Tolerance {
  readonly abs: number;
  readonly rel: number;
}

export const EXACT: Tolerance = { abs: 0, rel: 0 };

/** The op a case tests (Backend method names, plus `moe`: route → expert gather → relu² MLP → weighted scatter-add). */
export type ConformanceOp = Exclude<keyof Backend, 'name'> | 'moe';

/** One named output of a case; `tolerance` overrides the case's (e.g. exact expert ids). */
export interface Output {
  readonly name: string;
  readonly data: Float32Array | Int32Array;
  readonly tolerance?: Tolerance;
}

export interface ConformanceCase {
  /** Unique, e.g. `matmul/q4_k+q8_k/37x256/T17`. */
  readonly name: string;
  readonly op: ConformanceOp;
  /** Weight, KV or activation format (`f32` for plain activations); with `op`, the key into the tolerance table. */
  readonly format: string;
  readonly tolerance: Tolerance;
  /** Inputs the op must not modify (checked bit-exactly after the backend ran). */
  readonly readOnly: readonly { readonly name: string; readonly data: Float32Array | Int32Array | Uint8Array }[];
  /** Runs the case on `be` with fresh copies of every in/out buffer and returns the outputs. */
  run(be: Backend): readonly Output[];
  /** What the oracle computes for comparison; defaults to `run(oracle)` (differs e.g. for chunked SSD vs scan). */
  readonly expect?: (oracle: Backend) => readonly Output[];
}

export interface CaseResult {
  readonly case: string;
  readonly op: ConformanceOp;
  readonly format: string;
  readonly tolerance: Tolerance;
  /** Largest |got − expected| over all outputs (Infinity for a NaN/Inf mismatch). */
  readonly maxAbs: number;
  /** Largest |got − expected| / max(|expected|, tolerance.abs) over all outputs. */
  readonly maxRel: number;
  /** The output holding the first failing element (or the largest error when all pass). */
  readonly output: string;
  /** Index of the first element outside tolerance in `output`; −1 when the case passes. */
  readonly firstBadIndex: number;
  /** Expected and actual value at `firstBadIndex` (NaN when it is −1). */
  readonly expected: number;
  readonly got: number;
  readonly pass: boolean;
  /** Set when the backend threw, or returned outputs of the wrong shape. */
  readonly error?: string;
}

/** Tolerance of `op` on `format`: the table row for the exact format, else its base dtype (before `+`), else `default`. */
export function toleranceFor(op: ConformanceOp, format: string): Tolerance {
  const table: Readonly<Record<string, Readonly<Record<string, Tolerance>>>> = TOLERANCE.conformance;
  const rows = table[op];
  if (!rows) throw new Error(`tolerance table has no row for op ${op} (add one to TOLERANCE.conformance)`);
  const row = rows[format] ?? rows[format.split('+')[0]!] ?? rows.default;
  if (!row) throw new Error(`tolerance table has no row for ${op}/${format} and no default`);
  return row;
}

/** Max abs / rel error of one output and its first element outside tolerance (−1: none). */
export interface OutputError {
  readonly maxAbs: number;
  readonly maxRel: number;
  readonly firstBad: number;
}

/** Element-wise comparison of one output; a NaN/Inf that the other side does not match exactly counts as Infinity. */
export function compareArrays(expected: ArrayLike<number>, got: ArrayLike<number>, tol: Tolerance): OutputError {
  let maxAbs = 0, maxRel = 0, firstBad = -1;
  const floor = tol.abs > 0 ? tol.abs : Number.MIN_VALUE;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!, g = got[i]!;
    const finite = Number.isFinite(e) && Number.isFinite(g);
    const d = finite ? Math.abs(g - e) : Object.is(e, g) || (Number.isNaN(e) && Number.isNaN(g)) ? 0 : Infinity;
    const mag = Number.isFinite(e) ? Math.abs(e) : 0;
    if (d > tol.abs + tol.rel * mag && firstBad < 0) firstBad = i;
    maxAbs = Math.max(maxAbs, d);
    maxRel = Math.max(maxRel, d / Math.max(mag, floor));
  }
  return { maxAbs, maxRel, firstBad };
}

interface Comparison {
  readonly name: string;
  readonly expected: ArrayLike<number>;
  readonly got: ArrayLike<number>;
  readonly tolerance: Tolerance;
}

function failed(c: ConformanceCase, output: string, error: string): CaseResult {
  return { case: c.name, op: c.op, format: c.format, tolerance: c.tolerance, maxAbs: Infinity, maxRel: Infinity, output, firstBadIndex: 0, expected: NaN, got: NaN, pass: false, error };
}

/** Pairs the backend's outputs with the oracle's by position; a name or length mismatch is an error message. */
function pairOutputs(c: ConformanceCase, exp: readonly Output[], got: readonly Output[]): Comparison[] | string {
  if (got.length !== exp.length) return `the backend returned ${got.length} outputs, expected ${exp.length}`;
  const out: Comparison[] = [];
  for (const [i, e] of exp.entries()) {
    const g = got[i]!;
    if (g.name !== e.name) return `output ${i} is "${g.name}", expected "${e.name}"`;
    if (g.data.length !== e.data.length) return `output "${e.name}" has ${g.data.length} elements, expected ${e.data.length}`;
    out.push({ name: e.name, expected: e.data, got: g.data, tolerance: e.tolerance ?? c.tolerance });
  }
  return out;
}

/** Summarizes the comparisons: the first one with a bad element names `firstBadIndex`; maxima run over all of them. */
function judge(c: ConformanceCase, comparisons: readonly Comparison[]): CaseResult {
  let maxAbs = 0, maxRel = 0, worstOut = comparisons[0]?.name ?? '';
  let bad: { out: string; i: number; e: number; g: number } | undefined;
  for (const k of comparisons) {
    const r = compareArrays(k.expected, k.got, k.tolerance);
    if (r.maxAbs > maxAbs) worstOut = k.name;
    maxAbs = Math.max(maxAbs, r.maxAbs);
    maxRel = Math.max(maxRel, r.maxRel);
    if (r.firstBad >= 0 && !bad) bad = { out: k.name, i: r.firstBad, e: k.expected[r.firstBad]!, g: k.got[r.firstBad]! };
  }
  return {
    case: c.name, op: c.op, format: c.format, tolerance: c.tolerance, maxAbs, maxRel,
    output: bad?.out ?? worstOut, firstBadIndex: bad?.i ?? -1, expected: bad?.e ?? NaN, got: bad?.g ?? NaN, pass: !bad,
  };
}

/** Runs one case: oracle first, then the backend (a throw is a failure of that case, not of the run). */
export function runCase(c: ConformanceCase, backend: Backend, oracle: Backend = refBackend): CaseResult {
  const exp = c.expect ? c.expect(oracle) : c.run(oracle);
  const before = c.readOnly.map((r) => r.data.slice());
  let got: readonly Output[];
  try {
    got = c.run(backend);
  } catch (e) {
    return failed(c, exp[0]?.name ?? '', `${backend.name} threw: ${e instanceof Error ? e.message : String(e)}`);
  }
  const pairs = pairOutputs(c, exp, got);
  if (typeof pairs === 'string') return failed(c, '', pairs);
  const inputs = c.readOnly.map((r, i) => ({ name: `${r.name} (read-only input)`, expected: before[i]!, got: r.data, tolerance: EXACT }));
  return judge(c, [...pairs, ...inputs]);
}
