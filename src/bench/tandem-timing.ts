/**
 * Timing one Tandem run and the pure helpers shared by both engines: the deterministic token streams (the same ids go
 * to Tandem and llama.cpp), the alternation order of the engines, and summaries of the timed runs.
 */
import { forward, newState, type Model } from '../model/nemotron-h.js';
import { median } from './stats.js';

export interface RunTiming {
  /** Wall time of evaluating the whole prompt, logits for its last token included. */
  readonly prefillMs: number;
  /** Wall time of the single-token decode steps, each producing logits. */
  readonly decodeMs: number;
}

/** `n` token ids in [0, vocab), a fixed pattern per `stream` (0: prompt, 1: decode) so both engines see the same ids. */
export function benchTokens(vocab: number, n: number, stream: 0 | 1): number[] {
  const [mul, add] = stream === 0 ? [37, 5] : [11, 3];
  return Array.from({ length: n }, (_, i) => (i * mul + add) % vocab);
}

/**
 * The order in which engines run, `reps` rounds: ABBA… (round r runs the engines forward when r is even, backward when
 * it is odd), so slow drift of a shared machine's load does not favour the engine that always runs first.
 */
export function alternationOrder<E>(reps: number, engines: readonly E[]): E[] {
  const out: E[] = [];
  for (let r = 0; r < reps; r++) out.push(...(r % 2 === 0 ? engines : [...engines].reverse()));
  return out;
}

/** Prefill (in forward calls of at most `batch` tokens) then one forward per decode token, on a fresh state. */
export function timeTandem(model: Model, prompt: readonly number[], decode: readonly number[], batch: number): RunTiming {
  const state = newState(model);
  let t = performance.now();
  for (let i = 0; i < prompt.length; i += batch) forward(model, state, prompt.slice(i, i + batch));
  const prefillMs = performance.now() - t;
  t = performance.now();
  for (const tok of decode) forward(model, state, [tok]);
  return { prefillMs, decodeMs: performance.now() - t };
}

export interface SpeedSummary {
  /** Best run, tokens per second (noise on a shared machine only ever slows a run down). */
  readonly prefill: number;
  readonly decode: number;
  /** Median run, tokens per second. */
  readonly prefillMedian: number;
  readonly decodeMedian: number;
}

const tps = (tokens: number, ms: number): number => (tokens * 1000) / ms;

export function summarize(runs: readonly RunTiming[], promptTokens: number, decodeTokens: number): SpeedSummary {
  if (runs.length === 0) throw new Error('no timed runs to summarize');
  const pre = runs.map((r) => tps(promptTokens, r.prefillMs));
  const dec = runs.map((r) => tps(decodeTokens, r.decodeMs));
  return { prefill: Math.max(...pre), decode: Math.max(...dec), prefillMedian: median(pre), decodeMedian: median(dec) };
}
