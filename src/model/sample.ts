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
import { mulberry32 } from '../numerics/random.js';

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
  // Kept ids get their weight exp(v - v_max) in place of v (others 0); then walk ascending ids to u · total.
  let ties = cut.ties;
  let total = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const x = v[i]!;
    const kept = x !== -Infinity && x >= floor && (x !== cut.value || ties-- > 0);
    v[i] = kept ? Math.exp(x - vMax) : 0;
    total += v[i]!;
    if (v[i]! > 0) last = i;
  }
  let r = u * total;
  for (let i = 0; i < n; i++) {
    if (v[i]! === 0) continue;
    r -= v[i]!;
    if (r < 0) return i;
  }
  return last;
}

/**
 * Where top-k and top-p cut the order sorted by value: keep every id with v > `value`, plus the `ties` lowest
 * ids with v == `value`.
 */
function sortedCut(v: Float64Array, vMax: number, o: SamplingOptions): { value: number; ties: number } {
  const head = o.topK > 0 ? largestValues(v, o.topK) : valuesCoveringMass(v, vMax, o.topP);
  const sorted = head.values; // [m] descending
  let m = sorted.length;
  if (o.topP < 1) {
    let z = head.mass; // top-p's mass is that of the top-k set when top-k is on
    if (o.topK > 0) for (let k = 0; k < m; k++) z += Math.exp(sorted[k]! - vMax);
    let cum = 0;
    for (let k = 0; k < m; k++) {
      cum += Math.exp(sorted[k]! - vMax);
      if (cum >= o.topP * z) {
        m = k + 1;
        break;
      }
    }
  }
  const value = sorted[m - 1]!;
  let above = 0;
  while (above < m && sorted[above]! > value) above++;
  return { value, ties: m - above };
}

/** The `k` largest finite values, descending: one pass with a size-k min-heap, O(V log k). */
function largestValues(v: Float64Array, k: number): { values: Float64Array; mass: number } {
  const heap = new Float64Array(k);
  let size = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x === -Infinity) continue;
    if (size < k) {
      let c = size++;
      heap[c] = x;
      for (let p = (c - 1) >> 1; c > 0 && heap[p]! > heap[c]!; c = p, p = (c - 1) >> 1) swap(heap, p, c);
    } else if (x > heap[0]!) {
      heap[0] = x;
      for (let c = 0; ;) {
        const l = 2 * c + 1;
        const r = l + 1;
        let s = c;
        if (l < size && heap[l]! < heap[s]!) s = l;
        if (r < size && heap[r]! < heap[s]!) s = r;
        if (s === c) break;
        swap(heap, s, c);
        c = s;
      }
    }
  }
  return { values: heap.subarray(0, size).sort().reverse(), mass: 0 };
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/** Relative probabilities (as ln ratios to the best) tried as cut-offs before sorting every value. */
const PRUNE_LOG_RATIOS = [Math.log(1e-6), Math.log(1e-12), Math.log(1e-30)];

/**
 * Values sorted descending that surely contain top-p's cut: those within the first PRUNE_LOG_RATIOS tier of the
 * best whose probability mass reaches topP (else all finite values), and the total mass of all values.
 */
function valuesCoveringMass(v: Float64Array, vMax: number, topP: number): { values: Float64Array; mass: number } {
  const tierMass = PRUNE_LOG_RATIOS.map(() => 0);
  const tierCount = PRUNE_LOG_RATIOS.map(() => 0);
  let mass = 0;
  let finite = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v[i]! - vMax;
    if (d === -Infinity) continue;
    const w = Math.exp(d);
    mass += w;
    finite++;
    for (let t = 0; t < PRUNE_LOG_RATIOS.length && d >= PRUNE_LOG_RATIOS[t]!; t++) {
      tierMass[t]! += w;
      tierCount[t]!++;
    }
  }
  const tier = tierMass.findIndex((z) => z >= topP * mass);
  const floor = tier >= 0 ? vMax + PRUNE_LOG_RATIOS[tier]! : -Infinity;
  const values = new Float64Array(tier >= 0 ? tierCount[tier]! : finite);
  let k = 0;
  for (let i = 0; i < v.length; i++) if (v[i]! > -Infinity && v[i]! >= floor) values[k++] = v[i]!;
  return { values: values.sort().reverse(), mass };
}


/** Folds a safe-integer seed (negative or above 2^32 too) into 32 bits. */
function seedState(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return (lo ^ Math.imul(hi ^ 0x9e3779b9, 0x85ebca6b)) >>> 0;
}
