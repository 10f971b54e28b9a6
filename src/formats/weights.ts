/**
 * Checkpoint tensors → typed weight views, strictly: every tensor of the name table must be present with its exact
 * shape, and nothing else may be left over (except ignored MTP tensors). All problems are reported in one error.
 *
 * Linear weights stay in their stored format (`Matrix`, zero-copy views into the file). Small vectors (norms, biases,
 * A, D, conv taps) are decoded to f32. Layer weights are a discriminated union tagged by `kind`.
 */
import { TandemError } from '../errors.js';
import { DTYPE_LAYOUT, rowBytes, type Matrix } from '../numerics/tensor.js';
import { toFloat32 } from '../numerics/dtypes/index.js';
import type { ModelConfig } from './config.js';
import type { RawTensor, TensorMap } from './raw-tensor.js';
import { HF_ALIASES, isIgnoredTensor, modelSpecs, type CheckpointNaming, type LayerSpecs, type TensorSpec } from './tensor-names.js';

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

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

class Collector {
  readonly used = new Set<string>();
  readonly missing: string[] = [];
  readonly misshaped: string[] = [];
  constructor(private readonly tensors: TensorMap, private readonly naming: CheckpointNaming) {}

  find(spec: TensorSpec): RawTensor | undefined {
    let t = this.tensors.get(spec.name);
    if (!t && this.naming === 'hf') {
      const alias = Object.keys(HF_ALIASES).find((k) => HF_ALIASES[k] === spec.name);
      if (alias) t = this.tensors.get(alias);
    }
    if (!t) {
      this.missing.push(`${spec.name} ${fmt(spec.shape)}`);
      return undefined;
    }
    this.used.add(t.name);
    if (!sameShape(t.shape, spec.shape)) {
      this.misshaped.push(`${spec.name} is ${fmt(t.shape)}, expected ${fmt(spec.shape)}`);
      return undefined;
    }
    const cols = spec.shape[spec.shape.length - 1]!;
    if (cols % DTYPE_LAYOUT[t.dtype].blockSize !== 0) {
      this.misshaped.push(`${spec.name} rows of ${cols} are not a whole number of ${t.dtype} blocks`);
      return undefined;
    }
    return t;
  }

  check(source: string): void {
    const unexpected = [...this.tensors.keys()].filter((n) => !this.used.has(n) && !isIgnoredTensor(n));
    const parts: string[] = [];
    const list = (label: string, items: string[]): void => {
      if (items.length === 0) return;
      const shown = items.slice(0, 8).join('; ');
      parts.push(`${items.length} ${label}: ${shown}${items.length > 8 ? `; … ${items.length - 8} more` : ''}`);
    };
    list('missing', this.missing);
    list('mis-shaped', this.misshaped);
    list('unexpected', unexpected);
    if (parts.length > 0) {
      throw new TandemError('TENSOR_MISMATCH', `${source} does not match its config: ${parts.join(' | ')}`);
    }
  }
}

function toMatrix(t: RawTensor): Matrix {
  const rows = t.shape[0]!;
  const cols = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { dtype: t.dtype, rows, cols, data: t.data };
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

function splitExperts(t: RawTensor): Matrix[] {
  const [E, rows, cols] = t.shape as [number, number, number];
  const stride = rows * rowBytes(t.dtype, cols);
  return Array.from({ length: E }, (_, e) => ({ dtype: t.dtype, rows, cols, data: t.data.subarray(e * stride, (e + 1) * stride) }));
}

type Resolved = Record<string, Matrix | Float32Array | Matrix[]>;

function resolveLayer(specs: LayerSpecs, col: Collector): Resolved | undefined {
  const out: Resolved = {};
  let ok = true;
  for (const [slot, spec] of Object.entries(specs)) {
    const t = col.find(spec);
    if (!t) {
      ok = false;
      continue;
    }
    out[slot] = spec.role === 'matrix' ? toMatrix(t) : spec.role === 'experts' ? splitExperts(t) : toVector(t, spec.role);
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

/** Map a checkpoint's tensors onto the model's weight slots; throws one TENSOR_MISMATCH listing every problem. */
export function buildWeights(cfg: ModelConfig, tensors: TensorMap, naming: CheckpointNaming, source: string): ModelWeights {
  const specs = modelSpecs(cfg, naming);
  const col = new Collector(tensors, naming);
  const embedT = col.find(specs.embed);
  const normFT = col.find(specs.normF);
  const headT = specs.lmHead ? col.find(specs.lmHead) : undefined;
  const layers = specs.layers.map((ls) => resolveLayer(ls, col));
  col.check(source);
  const embed = toMatrix(embedT!);
  return {
    embed,
    layers: layers.map((r, i) => assembleLayer(cfg, i, r!)),
    normF: toVector(normFT!, 'vector'),
    lmHead: headT ? toMatrix(headT) : embed,
  };
}

/** Parameter count and stored bytes by format (a tied LM head is counted once). */
export function weightTally(w: ModelWeights): { readonly params: number; readonly bytes: Readonly<Record<string, number>> } {
  const bytes: Record<string, number> = {};
  let params = 0;
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Float32Array) {
      params += v.length;
      bytes.f32 = (bytes.f32 ?? 0) + v.byteLength;
    } else if ('dtype' in v && 'data' in v) {
      const m = v as Matrix;
      params += m.rows * m.cols;
      bytes[m.dtype] = (bytes[m.dtype] ?? 0) + m.data.byteLength;
    } else {
      Object.values(v).forEach(visit);
    }
  };
  visit(w);
  return { params, bytes };
}
