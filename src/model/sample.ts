/**
 * Next-token sampling as pure functions over one row of logits.
 *
 * Order (as in HF `generate` / llama.cpp's default chain): repetition penalty → greedy if temperature is 0 →
 * temperature → top-k → top-p → min-p → draw. Filters keep a prefix of the tokens sorted by (logit desc,
 * id asc), so every tie is broken toward the lowest id, and at least one token always survives. The only
 * state is a seeded PRNG (mulberry32), one draw per non-greedy sample: the same seed gives the same tokens.
 *
 * Glossary: V vocabulary (logits.length), l logits, v = l / temperature, p ∝ exp(v - max v).
 */
import { TandemError } from '../errors.js';

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 0 = off; keeps tokens with p ≥ minP · p_max. */
  minP: number;
  /** 1 = off; HF/llama.cpp semantics over previously seen ids: l > 0 ? l / penalty : l · penalty. */
  repetitionPenalty: number;
  seed: number;
}

export const DEFAULT_SAMPLING: SamplingOptions = Object.freeze({
  temperature: 0,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  seed: 0,
});

export interface Sampler {
  sample(logits: Float32Array, history: readonly number[]): number;
}

const RULES: ReadonlyArray<[keyof SamplingOptions, (v: number) => boolean, string]> = [
  ['temperature', (v) => Number.isFinite(v) && v >= 0, 'a number >= 0 (0 = greedy)'],
  ['topK', (v) => Number.isSafeInteger(v) && v >= 0, 'an integer >= 0 (0 = off)'],
  ['topP', (v) => v > 0 && v <= 1, 'a number with 0 < topP <= 1 (1 = off)'],
  ['minP', (v) => v >= 0 && v <= 1, 'a number with 0 <= minP <= 1 (0 = off)'],
  ['repetitionPenalty', (v) => Number.isFinite(v) && v > 0, 'a number > 0 (1 = off)'],
  ['seed', (v) => Number.isSafeInteger(v), 'an integer'],
];

/** Fills defaults and checks ranges; a bad field is a BAD_ARGUMENT naming the field and its valid range. */
export function validateSampling(o: Partial<SamplingOptions>): SamplingOptions {
  const out: SamplingOptions = { ...DEFAULT_SAMPLING };
  for (const [name, ok, range] of RULES) {
    const v: unknown = o[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !ok(v)) {
      throw new TandemError(
        'BAD_ARGUMENT',
        `sampling option ${name} must be ${range}, got ${String(v)}; pass a value in that range`,
      );
    }
    out[name] = v;
  }
  return out;
}

export function createSampler(o: SamplingOptions): Sampler {
  const opts = validateSampling(o);
  const random = mulberry32(seedState(opts.seed));
  return {
    sample(logits: Float32Array, history: readonly number[]): number {
      const l = applyRepetitionPenalty(logits, history, opts.repetitionPenalty);
      if (opts.temperature === 0) return argmax(l);
      return drawFiltered(l, opts, random());
    },
  };
}

/** Returns `logits` itself when nothing changes, else a penalized copy (the input is never written). */
export function applyRepetitionPenalty(
  logits: Float32Array,
  history: readonly number[],
  penalty: number,
): Float32Array {
  if (penalty === 1 || history.length === 0) return logits;
  const out = logits.slice();
  for (const id of new Set(history)) {
    if (!Number.isInteger(id) || id < 0 || id >= out.length) continue;
    const x = logits[id] as number;
    out[id] = x > 0 ? x / penalty : x * penalty;
  }
  return out;
}

/** Index of the largest logit; ties go to the lowest id; NaN never wins. */
export function argmax(logits: Float32Array): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i] as number;
    if (x > bestValue) {
      bestValue = x;
      best = i;
    }
  }
  if (best < 0) throw new Error(`sampler got ${logits.length} logits and none is finite or +Infinity`);
  return best;
}

/**
 * Temperature, then top-k / top-p / min-p as one cut into the sorted order, then one draw with `u` in [0, 1).
 * Only top-k and top-p need the sort; min-p is a threshold on v because p / p_max = exp(v - v_max).
 */
export function drawFiltered(logits: Float32Array, o: SamplingOptions, u: number): number {
  const n = logits.length;
  const v = new Float64Array(n); // [V] scaled logits; NaN → -Infinity
  let vMax = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = (logits[i] as number) / o.temperature;
    v[i] = Number.isNaN(x) ? -Infinity : x;
    if (v[i]! > vMax) vMax = v[i]!;
  }
  if (vMax === -Infinity) throw new Error(`sampler got ${n} logits and none is finite or +Infinity`);
  if (vMax === Infinity) return argmax(logits);
  const cut = o.topK > 0 || o.topP < 1 ? sortedCut(v, vMax, o) : { value: -Infinity, ties: Infinity };
  const floor = Math.max(o.minP > 0 ? vMax + Math.log(o.minP) : -Infinity, cut.value);
  // Two passes over the kept ids (ascending): the total weight, then the walk to u · total.
  const walk = (visit: (i: number, w: number) => boolean): number => {
    let ties = cut.ties;
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      if (x === -Infinity || x < floor) continue;
      if (x === cut.value && ties-- <= 0) continue;
      if (visit(i, Math.exp(x - vMax))) return i;
    }
    return -1;
  };
  let total = 0;
  let last = -1;
  walk((i, w) => {
    total += w;
    last = i;
    return false;
  });
  let r = u * total;
  const picked = walk((_, w) => (r -= w) < 0);
  return picked >= 0 ? picked : last;
}

/** Tokens less likely than this, relative to the best one, are left out of the sort when that is exact. */
const PRUNE_LOG_RATIO = Math.log(1e-6);

/**
 * Where top-k and top-p cut the order sorted by value: keep every id with v > `value`, plus the `ties` lowest
 * ids with v == `value`. Sorts only the values within PRUNE_LOG_RATIO of the best when the cut provably falls
 * among them (at least topK of them, or at least topP of the probability mass), else all of them.
 */
function sortedCut(v: Float64Array, vMax: number, o: SamplingOptions): { value: number; ties: number } {
  const floor = vMax + PRUNE_LOG_RATIO;
  let zAll = 0;
  let zNear = 0;
  let near = 0;
  let finite = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x === -Infinity) continue;
    const w = Math.exp(x - vMax);
    finite++;
    zAll += w;
    if (x >= floor) {
      near++;
      zNear += w;
    }
  }
  const pruned = o.topK > 0 ? near >= o.topK : zNear >= o.topP * zAll;
  const sorted = new Float64Array(pruned ? near : finite); // [m0] descending
  let k = 0;
  for (let i = 0; i < v.length; i++) if (v[i]! > -Infinity && (!pruned || v[i]! >= floor)) sorted[k++] = v[i]!;
  sorted.sort().reverse();
  let m = o.topK > 0 ? Math.min(sorted.length, o.topK) : sorted.length;
  if (o.topP < 1) {
    let z = zAll; // top-p's mass is that of the top-k set when top-k is on
    if (o.topK > 0) for (z = 0, k = 0; k < m; k++) z += Math.exp(sorted[k]! - vMax);
    let cum = 0;
    for (k = 0; k < m; k++) {
      cum += Math.exp(sorted[k]! - vMax);
      if (cum >= o.topP * z) break;
    }
    m = Math.min(m, k + 1);
  }
  const value = sorted[m - 1]!;
  let above = 0;
  while (above < m && sorted[above]! > value) above++;
  return { value, ties: m - above };
}

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
function mulberry32(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Folds a safe-integer seed (negative or above 2^32 too) into 32 bits. */
function seedState(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return (lo ^ Math.imul(hi ^ 0x9e3779b9, 0x85ebca6b)) >>> 0;
}
