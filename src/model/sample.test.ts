import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTandemError } from '../errors.js';
import {
  argmax,
  createSampler,
  DEFAULT_SAMPLING,
  drawFiltered,
  validateSampling,
  type SamplingOptions,
} from './sample.js';

const opts = (o: Partial<SamplingOptions>): SamplingOptions => validateSampling(o);

/** Deterministic pseudo-random logits (no Math.random in tests). */
function logitsOf(n: number, salt: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(i * 12.9898 + salt * 78.233) * 4;
  return out;
}

function draws(o: SamplingOptions, steps: number): number[] {
  const s = createSampler(o);
  const history: number[] = [];
  for (let t = 0; t < steps; t++) history.push(s.sample(logitsOf(64, t), history));
  return history;
}

test('DEFAULT_SAMPLING is greedy and valid', () => {
  assert.equal(DEFAULT_SAMPLING.temperature, 0);
  assert.deepEqual(validateSampling({}), DEFAULT_SAMPLING);
  const s = createSampler(DEFAULT_SAMPLING);
  assert.equal(s.sample(new Float32Array([0, 3, 3, 1]), []), 1, 'ties go to the lowest id');
});

test('the same seed gives the same tokens; another seed gives others', () => {
  const o = opts({ temperature: 1, seed: 1234 });
  const a = draws(o, 200);
  assert.deepEqual(draws(o, 200), a);
  assert.notDeepEqual(draws({ ...o, seed: 99 }, 200), a);
  assert.ok(new Set(a).size > 10, 'temperature 1 actually samples');
});

test('top-k = 1 and a tiny top-p are greedy', () => {
  const greedy = draws(DEFAULT_SAMPLING, 50);
  assert.deepEqual(draws(opts({ temperature: 1.5, topK: 1, seed: 7 }), 50), greedy);
  assert.deepEqual(draws(opts({ temperature: 1.5, topP: 1e-9, seed: 7 }), 50), greedy);
  const tie = new Float32Array([1, 5, 5, 0]);
  assert.equal(drawFiltered(tie, opts({ temperature: 1, topK: 1 }), 0.999), 1);
  assert.equal(drawFiltered(tie, opts({ temperature: 1, topP: 1e-9 }), 0.999), 1);
});

test('top-k and top-p keep exactly the expected set', () => {
  const logits = new Float32Array([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
  const seen = (o: SamplingOptions): Set<number> => {
    const ids = new Set<number>();
    for (let k = 0; k < 100; k++) ids.add(drawFiltered(logits, o, k / 100));
    return ids;
  };
  assert.deepEqual(seen(opts({ temperature: 1 })), new Set([0, 1, 2, 3]));
  assert.deepEqual(seen(opts({ temperature: 1, topK: 2 })), new Set([0, 1]));
  assert.deepEqual(seen(opts({ temperature: 1, topP: 0.75 })), new Set([0, 1]), 'smallest prefix with mass >= topP');
  assert.deepEqual(seen(opts({ temperature: 1, topP: 0.85 })), new Set([0, 1, 2]));
});

test('min-p drops tokens below minP times the best probability', () => {
  const logits = new Float32Array([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
  const seen = new Set<number>();
  for (let k = 0; k < 100; k++) seen.add(drawFiltered(logits, opts({ temperature: 1, minP: 0.35 }), k / 100));
  assert.deepEqual(seen, new Set([0, 1]), '0.15 / 0.5 = 0.3 < 0.35');
});

test('repetition penalty changes the argmax in a hand-built case', () => {
  const logits = new Float32Array([2.0, 1.8, -1.0, 0.5]);
  assert.equal(createSampler(DEFAULT_SAMPLING).sample(logits, [0]), 0);
  const s = createSampler(opts({ repetitionPenalty: 1.5 }));
  assert.equal(s.sample(logits, [0, 0]), 1, '2.0 / 1.5 < 1.8');
  assert.equal(s.sample(new Float32Array([-1.0, -1.2]), [0]), 1, 'negative logits are multiplied: -1.5 < -1.2');
  assert.equal(logits[0], 2.0, 'the input is not modified');
});

/** The definition, written the slow way: sort every id by (logit desc, id asc), cut, then walk kept ids. */
function naiveDraw(logits: Float32Array, o: SamplingOptions, u: number): number {
  const v = Array.from(logits, (x) => x / o.temperature);
  const vMax = Math.max(...v);
  const order = v.map((_, i) => i).sort((a, b) => v[b]! - v[a]! || a - b);
  let kept = o.topK > 0 ? order.slice(0, o.topK) : order;
  const w = (i: number): number => Math.exp(v[i]! - vMax);
  const z = kept.reduce((sum, i) => sum + w(i), 0);
  let cum = 0;
  const m = kept.findIndex((i) => (cum += w(i)) >= o.topP * z);
  if (o.topP < 1) kept = kept.slice(0, m + 1);
  kept = kept.filter((i) => w(i) >= o.minP).sort((a, b) => a - b);
  let r = u * kept.reduce((sum, i) => sum + w(i), 0);
  return kept.find((i) => (r -= w(i)) < 0) ?? kept[kept.length - 1]!;
}

test('filters agree with the sort-everything definition on a larger vocabulary', () => {
  const logits = new Float32Array(3000);
  for (let i = 0; i < logits.length; i++) logits[i] = Math.round(Math.sin(i * 0.37) * 40) / 4 - (i % 7 === 0 ? 30 : 0);
  const combos: Array<Partial<SamplingOptions>> = [
    { temperature: 1 },
    { temperature: 0.5, topK: 5 },
    { temperature: 1, topK: 300 },
    { temperature: 1, topP: 0.5 },
    { temperature: 2, topP: 0.99 },
    { temperature: 0.3, topP: 0.9, topK: 50 },
    { temperature: 1, minP: 0.2 },
    { temperature: 1.5, topK: 100, topP: 0.8, minP: 0.05 },
  ];
  for (const c of combos) {
    const o = opts(c);
    for (let k = 0; k < 200; k++) {
      const u = (k + 0.5) / 200;
      assert.equal(drawFiltered(logits, o, u), naiveDraw(logits, o, u), `${JSON.stringify(c)} u=${u}`);
    }
  }
});

test('masked and NaN logits never win', () => {
  assert.equal(argmax(new Float32Array([NaN, -Infinity, -3])), 2);
  const masked = new Float32Array([-Infinity, 0, -Infinity]);
  for (let k = 0; k < 10; k++) assert.equal(drawFiltered(masked, opts({ temperature: 2 }), k / 10), 1);
  assert.throws(() => argmax(new Float32Array([NaN, -Infinity])));
});

test('invalid options are BAD_ARGUMENT naming the field and its range', () => {
  const cases: Array<[Partial<SamplingOptions>, RegExp]> = [
    [{ temperature: -0.1 }, /temperature must be a number >= 0/],
    [{ temperature: NaN }, /temperature/],
    [{ topK: 1.5 }, /topK must be an integer >= 0/],
    [{ topK: -1 }, /topK/],
    [{ topP: 0 }, /topP must be a number with 0 < topP <= 1/],
    [{ topP: 1.01 }, /topP/],
    [{ minP: -0.1 }, /minP must be a number with 0 <= minP <= 1/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty must be a number > 0/],
    [{ seed: 0.5 }, /seed must be an integer/],
  ];
  for (const [o, re] of cases) {
    try {
      validateSampling(o);
      assert.fail(`accepted ${JSON.stringify(o)}`);
    } catch (e) {
      assert.ok(isTandemError(e) && e.code === 'BAD_ARGUMENT', String(e));
      assert.match(e.message, re);
    }
  }
  assert.deepEqual(validateSampling({ temperature: 0.7, topK: 40, seed: -3 }), {
    ...DEFAULT_SAMPLING,
    temperature: 0.7,
    topK: 40,
    seed: -3,
  });
});
