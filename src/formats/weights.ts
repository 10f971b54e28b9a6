/**
 * Checkpoint tensors → typed weight views, strictly: every tensor of the name table must be present with its exact
 * shape, and nothing else may be left over (except ignored MTP tensors). All problems are reported in one error.
 *
 * Linear weights stay in their stored format (`Matrix`, zero-copy views into the file). Small vectors (norms, biases,
 * A, D, conv taps) are decoded to f32. Layer weights are a discriminated union tagged by `kind`.
 */
import { rowBytes, matrixBytes, type Matrix } from '../numerics/tensor.js';
import { toFloat32 } from '../numerics/dtypes/index.js';
import type { ModelConfig } from './config.js';
import type { RawTensor, TensorMap } from './raw-tensor.js';
import { modelSpecs, type CheckpointNaming, type LayerSpecs, type TensorSpec } from './tensor-names.js';
import { Collector } from './collector.js';
import { plainMatrix, resolveMatrix, type ResolveOptions } from './matrix-resolve.js';

export interface MambaWeights {
  readonly kind: 'mamba2';
  readonly norm: Float32Array; // [H] pre-norm of the block
  readonly inProj: Matrix; // [2Di+2GN+nh, H], output order z | xBC | dt
  readonly convW: Float32Array; // [Cd, K], tap K-1 multiplies the current token
  readonly convB: Float32Array; // [Cd]
  readonly dtBias: Float32Array; // [nh]
  readonly A: Float32Array; // [nh], A = −exp(A_log) < 0
  readonly D: Float32Array; // [nh]
  readonly gateNorm: Float32Array; // [Di] weight of the gated grouped RMSNorm
  readonly outProj: Matrix; // [H, Di]
}

export interface AttentionWeights {
  readonly kind: 'attention';
  readonly norm: Float32Array;
  readonly q: Matrix; // [nq·dh, H]
  readonly k: Matrix; // [nkv·dh, H]
  readonly v: Matrix; // [nkv·dh, H]
  readonly o: Matrix; // [H, nq·dh]
}

export interface MlpWeights {
  readonly kind: 'mlp';
  readonly norm: Float32Array;
  readonly up: Matrix; // [F, H]
  readonly down: Matrix; // [H, F]
}

export interface ExpertWeights {
  readonly up: Matrix; // [Fe, ℓ]
  readonly down: Matrix; // [ℓ, Fe]
}

export interface MoeWeights {
  readonly kind: 'moe';
  readonly norm: Float32Array;
  readonly router: Matrix; // [E, H]
  readonly routerBias: Float32Array; // [E] e_score_correction_bias (selection only)
  readonly experts: readonly ExpertWeights[];
  readonly sharedUp: Matrix; // [Fs, H]
  readonly sharedDown: Matrix; // [H, Fs]
  readonly latentDown: Matrix | null; // [ℓ, H] (LatentMoE only)
  readonly latentUp: Matrix | null; // [H, ℓ]
}

export type LayerWeights = MambaWeights | AttentionWeights | MlpWeights | MoeWeights;

export interface ModelWeights {
  readonly embed: Matrix; // [V, H]
  readonly layers: readonly LayerWeights[];
  readonly normF: Float32Array; // [H]
  readonly lmHead: Matrix; // [V, H] (the embedding when tied)
}


function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function toVector(t: RawTensor, role: TensorSpec['role']): Float32Array {
  const v = toFloat32(t.dtype, t.data, count(t.shape));
  if (role !== 'a_log') return v;
  const a = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) a[i] = -Math.exp(v[i]!);
  return a;
}

function splitExperts(t: RawTensor, emulate: boolean): Matrix[] {
  const [E, rows, cols] = t.shape as [number, number, number];
  const stride = rows * rowBytes(t.dtype, cols);
  const data = t.data; // once: a lazily read tensor reads its bytes on every access
  return Array.from({ length: E }, (_, e) => plainMatrix(t, emulate, rows, data.subarray(e * stride, (e + 1) * stride)));
}

type Resolved = Record<string, Matrix | Float32Array | Matrix[]>;

const PLAIN: readonly string[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'ggml_mxfp4', 'ggml_nvfp4'];

/** A resolved matrix, passed through the loader's `prepare` hook when there is one. */
function prepared(m: Matrix | undefined, o: ResolveOptions): Matrix | undefined {
  return m && o.prepare ? o.prepare(m) : m;
}

function resolveOne(col: Collector, spec: TensorSpec, o: ResolveOptions): Matrix | Float32Array | Matrix[] | undefined {
  if (spec.role === 'matrix') return prepared(resolveMatrix(col, spec, o), o);
  const t = col.need(spec.name, spec.shape, spec.role === 'experts' ? PLAIN : undefined);
  if (!t) return undefined;
  return spec.role === 'experts' ? splitExperts(t, o.emulateActivations).map((m) => prepared(m, o)!) : toVector(t, spec.role);
}

function resolveLayer(specs: LayerSpecs, col: Collector, o: ResolveOptions): Resolved | undefined {
  const out: Resolved = {};
  let ok = true;
  for (const [slot, spec] of Object.entries(specs)) {
    const v = resolveOne(col, spec, o);
    if (v === undefined) ok = false;
    else out[slot] = v;
  }
  return ok ? out : undefined;
}

function assembleLayer(cfg: ModelConfig, i: number, r: Resolved): LayerWeights {
  const kind = cfg.layers[i]!;
  const m = (k: string): Matrix => r[k] as Matrix;
  const v = (k: string): Float32Array => r[k] as Float32Array;
  const norm = v('norm');
  switch (kind) {
    case 'mamba2':
      return { kind, norm, inProj: m('inProj'), convW: v('convW'), convB: v('convB'), dtBias: v('dtBias'), A: v('A'), D: v('D'), gateNorm: v('gateNorm'), outProj: m('outProj') };
    case 'attention':
      return { kind, norm, q: m('q'), k: m('k'), v: m('v'), o: m('o') };
    case 'mlp':
      return { kind, norm, up: m('up'), down: m('down') };
    case 'moe': {
      const E = cfg.moe!.numExperts;
      const ups = (r.upExperts as Matrix[] | undefined) ?? Array.from({ length: E }, (_, e) => m(`up${e}`));
      const downs = (r.downExperts as Matrix[] | undefined) ?? Array.from({ length: E }, (_, e) => m(`down${e}`));
      return {
        kind, norm, router: m('router'), routerBias: v('routerBias'),
        experts: ups.map((up, e) => ({ up, down: downs[e]! })),
        sharedUp: m('sharedUp'), sharedDown: m('sharedDown'),
        latentDown: (r.latentDown as Matrix | undefined) ?? null, latentUp: (r.latentUp as Matrix | undefined) ?? null,
      };
    }
  }
}

const NO_QUANT: ResolveOptions = { scheme: { kind: 'none' }, emulateActivations: false };

/**
 * Map a checkpoint's tensors onto the model's weight slots; throws one TENSOR_MISMATCH listing every problem.
 * `quant` describes how quantized HF weights are stored (ModelOpt / compressed-tensors); GGUF blocks need none.
 */
export function buildWeights(cfg: ModelConfig, tensors: TensorMap, naming: CheckpointNaming, source: string, quant: ResolveOptions = NO_QUANT): ModelWeights {
  const specs = modelSpecs(cfg, naming);
  const col = new Collector(tensors, naming);
  const embed = prepared(resolveMatrix(col, specs.embed, quant), quant);
  const normF = resolveOne(col, specs.normF, quant);
  const head = specs.lmHead ? prepared(resolveMatrix(col, specs.lmHead, quant), quant) : undefined;
  const layers = specs.layers.map((ls) => resolveLayer(ls, col, quant));
  col.finish(source);
  return {
    embed: embed!,
    layers: layers.map((r, i) => assembleLayer(cfg, i, r!)),
    normF: normF as Float32Array,
    lmHead: head ?? embed!,
  };
}

/** Parameter count, and stored bytes and element count by format (a tied LM head is counted once). */
export function weightTally(w: ModelWeights): { readonly params: number; readonly bytes: Readonly<Record<string, number>>; readonly elements: Readonly<Record<string, number>> } {
  const bytes: Record<string, number> = {};
  const elements: Record<string, number> = {};
  let params = 0;
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Float32Array) {
      params += v.length;
      bytes.f32 = (bytes.f32 ?? 0) + v.byteLength;
      elements.f32 = (elements.f32 ?? 0) + v.length;
    } else if ('dtype' in v && 'data' in v) {
      const m = v as Matrix;
      params += m.rows * m.cols;
      bytes[m.dtype] = (bytes[m.dtype] ?? 0) + matrixBytes(m);
      elements[m.dtype] = (elements[m.dtype] ?? 0) + m.rows * m.cols;
    } else {
      Object.values(v).forEach(visit);
    }
  };
  visit(w);
  return { params, bytes, elements };
}

/**
 * The same weights with every matrix passed through `matrix` and every f32 vector through `vector`, identity kept
 * (a tied LM head stays the embedding's object). The loader uses it to hand matrices to a backend's `prepareMatrix`
 * and copy the small vectors out of the file buffer, so the file bytes can be dropped.
 */
export function mapWeights(w: ModelWeights, matrix: (m: Matrix) => Matrix, vector: (v: Float32Array) => Float32Array): ModelWeights {
  const seen = new Map<unknown, unknown>();
  const visit = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    const done = seen.get(v);
    if (done !== undefined) return done;
    let out: unknown;
    if (v instanceof Float32Array) out = vector(v);
    else if ('dtype' in v && 'data' in v) out = matrix(v as Matrix);
    else if (Array.isArray(v)) out = v.map(visit);
    else out = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, visit(x)]));
    seen.set(v, out);
    return out;
  };
  return visit(w) as ModelWeights;
}
