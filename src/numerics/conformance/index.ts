/**
 * The backend conformance suite (issue 6): one list of cases that every backend runs against the `ref` oracle —
 * matmul over every packed weight format (and its activation emulation), embed, grouped RMSNorm, causal conv1d and
 * its one-row update, the sequential scan and the chunked SSD scan, attention over f32 and FP8 KV caches, routing
 * with group limits, the MoE expert gather, SiLU gate, ReLU², scaled accumulation. Tolerances come from
 * TOLERANCE.conformance (src/testing/tolerances.ts), keyed by op and format.
 *
 *   const results = runConformance(myBackend);          // CaseResult[]
 *   results.filter((r) => !r.pass).forEach((r) => console.log(formatFailure(r)));
 */
import type { Backend } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { runCase, type CaseResult, type ConformanceCase } from './compare.js';
import { embedCases, matmulCases, moeCases } from './cases-matmul.js';
import { mambaCases } from './cases-mamba.js';
import { attentionCases, elementwiseCases, routeCases } from './cases-misc.js';

export { compareArrays, runCase, toleranceFor, EXACT } from './compare.js';
export type { CaseResult, ConformanceCase, ConformanceOp, Output, Tolerance } from './compare.js';
export { formatFailure, formatTable, formatResult } from './report.js';
export { availableBackends, findBackend, registerBackend, withBackend, type BackendEntry } from './backends.js';

/** Every conformance case, with freshly generated deterministic inputs (same seeds → same bytes on every run). */
export function conformanceCases(): ConformanceCase[] {
  const cases = [...matmulCases(), ...embedCases(), ...elementwiseCases(), ...mambaCases(), ...attentionCases(), ...routeCases(), ...moeCases()];
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`duplicate conformance case name ${c.name}`);
    seen.add(c.name);
  }
  return cases;
}

/** Runs the whole suite (or `cases`) on `backend` with `oracle` (the `ref` backend) as the expected result. */
export function runConformance(backend: Backend, oracle: Backend = refBackend, cases: readonly ConformanceCase[] = conformanceCases()): CaseResult[] {
  return cases.map((c) => runCase(c, backend, oracle));
}
