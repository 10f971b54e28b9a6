/**
 * Conformance cases over stored weights: matmul on every Matrix format (with and without the activation emulation a
 * real low-precision kernel applies), embedding lookup on every format, and the MoE expert gather composed from
 * Backend ops exactly as model/layers/moe.ts composes it.
 */
import type { Backend } from '../backend.js';
import { GGML_ACTIVATION, type ActivationQuant, type Matrix } from '../tensor.js';
import { activations, Draw, guarded, makeMatrix, offsetView, weightValues, type WeightFormat } from './inputs.js';
import { toleranceFor, EXACT, type ConformanceCase, type Output } from './compare.js';

/** Rows × cols of the test matrices: odd row counts; block formats need whole 256-element super-blocks. */
const FLOAT_SHAPE = [37, 45] as const;
const BLOCK_SHAPE = [37, 256] as const;
const TOKENS = [1, 3, 17] as const;

interface MatmulFormat {
  readonly label: string;
  readonly weight: WeightFormat;
  readonly shape: readonly [number, number];
  /** Activation emulation; `calibrate` derives a static input scale from the input's amax (× 0.8: some saturate). */
  readonly act?: { readonly format: ActivationQuant['format']; readonly calibrate?: number };
}

type GgmlDType = 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_k' | 'q5_k' | 'q6_k' | 'ggml_mxfp4' | 'ggml_nvfp4';

/** A ggml weight type, bare and with its CPU vec_dot activation type emulated. */
const ggml = (dtype: GgmlDType): MatmulFormat[] => {
  const shape = dtype === 'f16' || dtype === 'bf16' ? FLOAT_SHAPE : BLOCK_SHAPE;
  const base: MatmulFormat = { label: dtype, weight: { dtype }, shape };
  const a = GGML_ACTIVATION[dtype]!;
  return [base, { ...base, label: `${dtype}+${a}`, act: { format: a } }];
};

/** Every weight format, and every activation emulation a loader attaches to it (matrix-resolve.ts). */
export const MATMUL_FORMATS: readonly MatmulFormat[] = [
  { label: 'f32', weight: { dtype: 'f32' }, shape: FLOAT_SHAPE },
  ...ggml('f16'), ...ggml('bf16'),
  { label: 'f8_e4m3', weight: { dtype: 'f8_e4m3', perRow: false }, shape: FLOAT_SHAPE },
  { label: 'f8_e4m3/row', weight: { dtype: 'f8_e4m3', perRow: true }, shape: FLOAT_SHAPE },
  { label: 'f8_e5m2', weight: { dtype: 'f8_e5m2', perRow: false }, shape: FLOAT_SHAPE },
  { label: 'f8_e4m3+fp8', weight: { dtype: 'f8_e4m3', perRow: false }, shape: FLOAT_SHAPE, act: { format: 'fp8' } },
  { label: 'f8_e4m3+fp8/static', weight: { dtype: 'f8_e4m3', perRow: false }, shape: FLOAT_SHAPE, act: { format: 'fp8', calibrate: 448 } },
  { label: 'nvfp4', weight: { dtype: 'nvfp4' }, shape: BLOCK_SHAPE },
  { label: 'nvfp4+nvfp4', weight: { dtype: 'nvfp4' }, shape: BLOCK_SHAPE, act: { format: 'nvfp4' } },
  { label: 'nvfp4+nvfp4/static', weight: { dtype: 'nvfp4' }, shape: BLOCK_SHAPE, act: { format: 'nvfp4', calibrate: 2688 } },
  { label: 'mxfp4', weight: { dtype: 'mxfp4' }, shape: BLOCK_SHAPE },
  { label: 'mxfp8', weight: { dtype: 'mxfp8' }, shape: BLOCK_SHAPE },
  ...ggml('q8_0'), ...ggml('q4_0'), ...ggml('q4_k'), ...ggml('q5_k'), ...ggml('q6_k'), ...ggml('ggml_mxfp4'), ...ggml('ggml_nvfp4'),
];

function actOf(f: MatmulFormat, x: Float32Array): ActivationQuant | undefined {
  if (!f.act) return undefined;
  if (!f.act.calibrate) return { format: f.act.format, scale: 0 };
  const amax = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { format: f.act.format, scale: Math.fround((0.8 * amax) / f.act.calibrate) };
}

function matmulCase(f: MatmulFormat, T: number, seed: number, view = false): ConformanceCase {
  const [rows, cols] = f.shape;
  const d = new Draw(seed);
  const w = weightValues(d, rows, cols);
  const x0 = activations(d, T, cols);
  const x = view ? offsetView(x0, 5) : x0;
  const m = makeMatrix(f.weight, w, rows, cols, actOf(f, x0));
  return {
    name: `matmul/${f.label}/${rows}x${cols}/T${T}${view ? '/views' : ''}`,
    op: 'matmul', format: f.label, tolerance: toleranceFor('matmul', f.label),
    readOnly: [{ name: 'x', data: x }, { name: 'W codes', data: m.data }],
    run: (be) => {
      const out = guarded(T * rows);
      be.matmul(out.view, x, T, m);
      return [{ name: 'out', data: out.view }, { name: 'out guards', data: out.guards(), tolerance: EXACT }];
    },
  };
}

function embedCase(f: MatmulFormat, seed: number): ConformanceCase {
  const [rows, cols] = f.shape;
  const m = makeMatrix(f.weight, weightValues(new Draw(seed), rows, cols), rows, cols);
  const ids = [rows - 1, 0, 5, 5, 17];
  return {
    name: `embed/${f.label}/${rows}x${cols}/ids${ids.length}`,
    op: 'embed', format: f.label, tolerance: toleranceFor('embed', f.label), readOnly: [{ name: 'W codes', data: m.data }],
    run: (be) => {
      const out = guarded(ids.length * cols);
      be.embed(out.view, m, ids);
      return [{ name: 'out', data: out.view }, { name: 'out guards', data: out.guards(), tolerance: EXACT }];
    },
  };
}

interface MoeInputs {
  readonly T: number;
  readonly H: number;
  readonly a: Float32Array; // [T, H]
  readonly router: Matrix; // [E, H]
  readonly bias: Float32Array; // [E]
  readonly experts: readonly { readonly up: Matrix; readonly down: Matrix }[]; // up [F, H], down [H, F]
  readonly topK: number;
}

/** route → per expert: gather its tokens, down(relu(up(x))²), weighted scatter-add (model/layers/moe.ts, no shared expert). */
function moeGather(be: Backend, p: MoeInputs): Output[] {
  const { T, H, topK } = p;
  const E = p.experts.length;
  const logits = new Float32Array(T * E);
  be.matmul(logits, p.a, T, p.router);
  const ids = new Int32Array(T * topK);
  const weights = new Float32Array(T * topK);
  be.route({ T, numExperts: E, topK, nGroup: 1, topkGroup: 1, normTopK: true, scale: 2.5, logits, bias: p.bias, ids, weights });
  const out = new Float32Array(T * H);
  p.experts.forEach((ex, e) => {
    const picks: { t: number; w: number }[] = [];
    ids.forEach((id, i) => id === e && picks.push({ t: Math.floor(i / topK), w: weights[i]! }));
    if (picks.length === 0) return;
    const xs = new Float32Array(picks.length * H);
    picks.forEach((pk, r) => xs.set(p.a.subarray(pk.t * H, (pk.t + 1) * H), r * H));
    const h = new Float32Array(picks.length * ex.up.rows);
    be.matmul(h, xs, picks.length, ex.up);
    be.relu2(h, h.length);
    const ys = new Float32Array(picks.length * H);
    be.matmul(ys, h, picks.length, ex.down);
    picks.forEach((pk, r) => be.addScaled(out.subarray(pk.t * H, (pk.t + 1) * H), ys.subarray(r * H, (r + 1) * H), H, pk.w));
  });
  return [{ name: 'ids', data: ids, tolerance: EXACT }, { name: 'weights', data: weights }, { name: 'out', data: out }];
}

/**
 * Token rows whose top-k choice is unambiguous: each row of `a` is redrawn until the k-th and (k+1)-th biased router
 * scores differ by ≥ 1e-3, so a backend's f32 rounding cannot flip an expert choice (that would be a tie, not a bug).
 */
function separatedTokens(d: Draw, T: number, H: number, router: Float32Array, bias: Float32Array, topK: number): Float32Array {
  const E = bias.length;
  const a = new Float32Array(T * H);
  for (let t = 0; t < T; t++) {
    for (;;) {
      const row = d.normals(H);
      const sel = Array.from({ length: E }, (_, e) => {
        let z = 0;
        for (let c = 0; c < H; c++) z += row[c]! * router[e * H + c]!;
        return 1 / (1 + Math.exp(-z)) + bias[e]!;
      }).sort((x, y) => y - x);
      if (sel[topK - 1]! - sel[topK]! < 1e-3) continue;
      a.set(row, t * H);
      break;
    }
  }
  return a;
}

function moeCase(weight: WeightFormat, seed: number): ConformanceCase {
  const T = 17, H = 64, F = 96, E = 8, topK = 2;
  const d = new Draw(seed);
  const routerW = d.normals(E * H, 0.5);
  const bias = d.uniforms(E, -0.05, 0.05);
  const a = separatedTokens(d, T, H, routerW, bias, topK);
  const mk = (r: number, c: number): Matrix => makeMatrix(weight, d.normals(r * c, 1 / Math.sqrt(c)), r, c); // outputs O(1)
  const p: MoeInputs = {
    T, H, a, topK, router: makeMatrix({ dtype: 'f32' }, routerW, E, H), bias,
    experts: Array.from({ length: E }, () => ({ up: mk(F, H), down: mk(H, F) })),
  };
  return {
    name: `moe/${weight.dtype}/E${E}k${topK}/T${T}`, op: 'moe', format: weight.dtype, tolerance: toleranceFor('moe', weight.dtype),
    readOnly: [{ name: 'a', data: a }], run: (be) => moeGather(be, p),
  };
}

export function matmulCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  MATMUL_FORMATS.forEach((f, i) => TOKENS.forEach((T) => cases.push(matmulCase(f, T, 1000 + 10 * i + T))));
  cases.push(matmulCase(MATMUL_FORMATS[0]!, 3, 7, true), matmulCase({ label: 'f32', weight: { dtype: 'f32' }, shape: [70, 130] }, 17, 8));
  const q4k = MATMUL_FORMATS.find((f) => f.label === 'q4_k')!;
  cases.push(matmulCase({ ...q4k, shape: [5, 512] }, 3, 9, true));
  return cases;
}

export function embedCases(): ConformanceCase[] {
  return MATMUL_FORMATS.filter((f) => !f.act).map((f, i) => embedCase(f, 2000 + i));
}

export function moeCases(): ConformanceCase[] {
  return [moeCase({ dtype: 'f32' }, 3001), moeCase({ dtype: 'q4_0' }, 3002), moeCase({ dtype: 'nvfp4' }, 3003)];
}
