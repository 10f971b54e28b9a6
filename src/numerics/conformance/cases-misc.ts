/**
 * Conformance cases of attention over the KV cache (f32 and FP8 E4M3, prefill at pos0 = 0 and continuation / decode
 * at pos0 > 0, GQA), MoE routing (with and without group limits), and the element-wise ops: grouped RMSNorm, the
 * SiLU gate, ReLU² and scaled accumulation.
 */
import type { KvView } from '../backend.js';
import { f32ToE4m3 } from '../dtypes/fp8.js';
import { Draw, guarded, offsetView } from './inputs.js';
import { toleranceFor, EXACT, type ConformanceCase } from './compare.js';

interface AttnShape {
  readonly T: number;
  readonly pos0: number;
  readonly nq: number;
  readonly nkv: number;
  readonly dh: number;
  readonly kv: KvView['format'];
}

/** Rows past pos0 + T that the op must not read: huge keys and values, so reading one shows. */
const SPARE_ROWS = 2;

/** [rows, nkv·dh] f32 rows → E4M3 codes with decode scale amax/448 per row and KV head (as model/layers/attention.ts stores them). */
function toFp8(rows: Float32Array, n: number, nkv: number, dh: number): { codes: Uint8Array; scales: Float32Array } {
  const codes = new Uint8Array(rows.length), scales = new Float32Array(n * nkv);
  for (let i = 0; i < n * nkv; i++) {
    let amax = 0;
    for (let d = 0; d < dh; d++) amax = Math.max(amax, Math.abs(rows[i * dh + d]!));
    const s = amax > 0 ? amax / 448 : 1;
    scales[i] = s;
    for (let d = 0; d < dh; d++) codes[i * dh + d] = f32ToE4m3(rows[i * dh + d]! / s);
  }
  return { codes, scales };
}

function kvCache(d: Draw, s: AttnShape): KvView {
  const n = s.pos0 + s.T + SPARE_ROWS, w = s.nkv * s.dh, used = (s.pos0 + s.T) * w;
  const k = d.normals(n * w), v = d.normals(n * w, 2);
  k.fill(1e4, used);
  v.fill(-1e4, used);
  if (s.kv === 'f32') return { format: 'f32', k, v };
  const K = toFp8(k, n, s.nkv, s.dh), V = toFp8(v, n, s.nkv, s.dh);
  return { format: 'fp8', k: K.codes, v: V.codes, kScale: K.scales, vScale: V.scales };
}

function attentionCase(s: AttnShape, seed: number): ConformanceCase {
  const { T, pos0, nq, nkv, dh } = s;
  const d = new Draw(seed);
  const q = d.normals(T * nq * dh);
  for (let i = 0; i < dh; i++) q[i]! *= 4; // query 0, head 0: a peaked softmax
  const kv = kvCache(d, s);
  const kvArrays = kv.format === 'f32' ? { k: kv.k, v: kv.v } : { k: kv.k, v: kv.v, kScale: kv.kScale, vScale: kv.vScale };
  return {
    name: `attention/${s.kv}/nq${nq}nkv${nkv}dh${dh}/pos0=${pos0}/T${T}`, op: 'attention', format: s.kv, tolerance: toleranceFor('attention', s.kv),
    readOnly: [{ name: 'q', data: q }, ...Object.entries(kvArrays).map(([name, data]) => ({ name, data }))],
    run: (be) => {
      const out = guarded(T * nq * dh);
      be.attention({ T, pos0, numHeads: nq, numKvHeads: nkv, headDim: dh, q, kv, out: out.view });
      return [{ name: 'out', data: out.view }, { name: 'out guards', data: out.guards(), tolerance: EXACT }];
    },
  };
}

interface RouteShape {
  readonly T: number;
  readonly E: number;
  readonly topK: number;
  readonly nGroup: number;
  readonly topkGroup: number;
  readonly normTopK: boolean;
  readonly scale: number;
}

/** Smallest gap between sorted values (∞ for fewer than two). */
function minGap(v: number[]): number {
  const s = [...v].sort((a, b) => b - a);
  return s.slice(1).reduce((m, x, i) => Math.min(m, s[i]! - x), Infinity);
}

/** True when no two biased scores, and no two group scores (sum of the group's top two), are within 1e-4. */
function separated(logits: Float32Array, bias: Float32Array, nGroup: number): boolean {
  const sel = Array.from(logits, (l, e) => 1 / (1 + Math.exp(-l)) + bias[e]!);
  const per = sel.length / nGroup;
  const groups = Array.from({ length: nGroup }, (_, g) => {
    const top = sel.slice(g * per, (g + 1) * per).sort((a, b) => b - a);
    return top[0]! + (top[1] ?? 0);
  });
  return minGap(sel) >= 1e-4 && (nGroup <= 1 || minGap(groups) >= 1e-4);
}

function routeCase(s: RouteShape, seed: number): ConformanceCase {
  const { T, E, topK } = s;
  const d = new Draw(seed);
  const bias = d.uniforms(E, -0.1, 0.1);
  const logits = new Float32Array(T * E);
  for (let t = 0; t < T; t++) {
    let row: Float32Array;
    do row = d.normals(E, 2); while (!separated(row, bias, s.nGroup)); // no near ties: f32 rounding may not flip a choice
    logits.set(row, t * E);
  }
  return {
    name: `route/E${E}k${topK}/groups${s.topkGroup}of${s.nGroup}/${s.normTopK ? 'norm' : 'raw'}/T${T}`,
    op: 'route', format: 'f32', tolerance: toleranceFor('route', 'f32'),
    readOnly: [{ name: 'logits', data: logits }, { name: 'bias', data: bias }],
    run: (be) => {
      const ids = new Int32Array(T * topK), weights = new Float32Array(T * topK);
      be.route({ T, numExperts: E, topK, nGroup: s.nGroup, topkGroup: s.topkGroup, normTopK: s.normTopK, scale: s.scale, logits, bias, ids, weights });
      return [{ name: 'ids', data: ids, tolerance: EXACT }, { name: 'weights', data: weights }];
    },
  };
}

function rmsNormCase(T: number, dim: number, groupSize: number, seed: number): ConformanceCase {
  const d = new Draw(seed);
  const x = d.normals(T * dim);
  if (T > 1) x.fill(0, dim, 2 * dim); // an all-zero row: eps alone keeps it finite
  if (T > 2) for (let i = 2 * dim; i < 3 * dim; i++) x[i]! *= 1e3;
  const weight = Float32Array.from({ length: dim }, () => 1 + 0.1 * d.normal());
  return {
    name: `rmsNorm/dim${dim}/group${groupSize}/T${T}`, op: 'rmsNorm', format: 'f32', tolerance: toleranceFor('rmsNorm', 'f32'),
    readOnly: [{ name: 'x', data: x }, { name: 'weight', data: weight }],
    run: (be) => {
      const out = guarded(T * dim);
      be.rmsNorm(out.view, x, T, dim, weight, 1e-5, groupSize);
      return [{ name: 'out', data: out.view }, { name: 'out guards', data: out.guards(), tolerance: EXACT }];
    },
  };
}

function siluGateCase(T: number, dim: number, zStride: number, seed: number): ConformanceCase {
  const d = new Draw(seed);
  const y0 = d.normals(T * dim);
  const z = d.normals(T * zStride, 3);
  [40, -40, 90, -90].forEach((v, i) => (z[(i * 7) % z.length] = v)); // exp over/underflow of f32
  return {
    name: `siluGate/dim${dim}/zStride${zStride}/T${T}`, op: 'siluGate', format: 'f32', tolerance: toleranceFor('siluGate', 'f32'),
    readOnly: [{ name: 'z', data: z }],
    run: (be) => {
      const y = guarded(T * dim, y0);
      be.siluGate(y.view, z, T, dim, zStride);
      return [{ name: 'y', data: y.view }, { name: 'y guards', data: y.guards(), tolerance: EXACT }];
    },
  };
}

function relu2Case(n: number, seed: number): ConformanceCase {
  const x0 = new Draw(seed).normals(n, 3);
  [-0, 0, 1e20, -1e20].forEach((v, i) => (x0[(i * 11) % n] = v)); // 1e20² overflows f32 to +Inf
  return {
    name: `relu2/n${n}`, op: 'relu2', format: 'f32', tolerance: toleranceFor('relu2', 'f32'), readOnly: [],
    run: (be) => {
      const x = guarded(n, x0);
      be.relu2(x.view, n);
      return [{ name: 'x', data: x.view }, { name: 'x guards', data: x.guards(), tolerance: EXACT }];
    },
  };
}

function addScaledCase(n: number, scale: number, seed: number): ConformanceCase {
  const d = new Draw(seed);
  const acc0 = d.normals(n), x = offsetView(d.normals(n), 3);
  return {
    name: `addScaled/n${n}/scale${scale}`, op: 'addScaled', format: 'f32', tolerance: toleranceFor('addScaled', 'f32'),
    readOnly: [{ name: 'x', data: x }],
    run: (be) => {
      const acc = guarded(n, acc0);
      be.addScaled(acc.view, x, n, scale);
      return [{ name: 'acc', data: acc.view }, { name: 'acc guards', data: acc.guards(), tolerance: EXACT }];
    },
  };
}

export function attentionCases(): ConformanceCase[] {
  const gqa = { nq: 6, nkv: 2, dh: 20 } as const;
  return (['f32', 'fp8'] as const).flatMap((kv, i) => [
    attentionCase({ ...gqa, kv, T: 17, pos0: 0 }, 5001 + 10 * i),
    attentionCase({ ...gqa, kv, T: 3, pos0: 9 }, 5002 + 10 * i),
    attentionCase({ ...gqa, kv, T: 1, pos0: 20 }, 5003 + 10 * i),
    attentionCase({ ...gqa, kv, T: 1, pos0: 0 }, 5004 + 10 * i),
    attentionCase({ nq: 2, nkv: 2, dh: 8, kv, T: 3, pos0: 4 }, 5005 + 10 * i),
  ]);
}

export function routeCases(): ConformanceCase[] {
  return [
    routeCase({ T: 17, E: 16, topK: 4, nGroup: 4, topkGroup: 2, normTopK: true, scale: 2.5 }, 6001),
    routeCase({ T: 3, E: 16, topK: 6, nGroup: 8, topkGroup: 3, normTopK: true, scale: 1 }, 6002),
    routeCase({ T: 1, E: 8, topK: 2, nGroup: 1, topkGroup: 1, normTopK: false, scale: 1 }, 6003),
    routeCase({ T: 17, E: 8, topK: 2, nGroup: 1, topkGroup: 1, normTopK: true, scale: 2.5 }, 6004),
  ];
}

export function elementwiseCases(): ConformanceCase[] {
  return [
    rmsNormCase(1, 96, 96, 7001), rmsNormCase(3, 96, 24, 7002), rmsNormCase(17, 96, 48, 7003), rmsNormCase(17, 37, 37, 7004),
    siluGateCase(1, 40, 40, 7101), siluGateCase(3, 40, 70, 7102), siluGateCase(17, 37, 101, 7103),
    relu2Case(1001, 7201), relu2Case(1, 7202),
    addScaledCase(1001, -0.37, 7301), addScaledCase(1, 2.5, 7302),
  ];
}
