/**
 * Strict tensor consumption for the loader: every lookup marks a tensor used; missing and mis-shaped tensors are
 * collected; at the end everything not consumed (except ignored MTP tensors) is "unexpected", and all three lists are
 * reported in one TENSOR_MISMATCH error.
 */
import { TandemError } from '../errors.js';
import { DTYPE_LAYOUT } from '../numerics/tensor.js';
import type { RawTensor, TensorMap } from './raw-tensor.js';
import { HF_ALIASES, isIgnoredTensor, type CheckpointNaming } from './tensor-names.js';

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
export const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

export class Collector {
  readonly used = new Set<string>();
  readonly missing: string[] = [];
  readonly misshaped: string[] = [];
  constructor(private readonly tensors: TensorMap, private readonly naming: CheckpointNaming) {}

  /** The tensor under `name` (or its HF alias), marked used; undefined if absent (nothing recorded). */
  peek(name: string): RawTensor | undefined {
    let t = this.tensors.get(name);
    if (!t && this.naming === 'hf') {
      const alias = Object.keys(HF_ALIASES).find((k) => HF_ALIASES[k] === name);
      if (alias) t = this.tensors.get(alias);
    }
    if (t) this.used.add(t.name);
    return t;
  }

  /** The tensor `name` with exactly `shape` (and whole blocks per row); records a problem and returns undefined otherwise. */
  need(name: string, shape: readonly number[], dtypes?: readonly string[]): RawTensor | undefined {
    const t = this.peek(name);
    if (!t) {
      this.missing.push(`${name} ${fmtShape(shape)}`);
      return undefined;
    }
    return this.check(t, shape, dtypes);
  }

  check(t: RawTensor, shape: readonly number[], dtypes?: readonly string[]): RawTensor | undefined {
    if (!sameShape(t.shape, shape)) {
      this.misshaped.push(`${t.name} is ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
      return undefined;
    }
    if (dtypes && !dtypes.includes(t.dtype)) {
      this.misshaped.push(`${t.name} is ${t.dtype}, expected ${dtypes.join(' or ')}`);
      return undefined;
    }
    const cols = shape[shape.length - 1] ?? 1;
    if (cols % DTYPE_LAYOUT[t.dtype].blockSize !== 0) {
      this.misshaped.push(`${t.name} rows of ${cols} are not a whole number of ${t.dtype} blocks`);
      return undefined;
    }
    return t;
  }

  /** A scalar (shape [] or [1]) f32 tensor's value. */
  scalar(name: string, required: boolean): number | undefined {
    const t = this.peek(name);
    if (!t) {
      if (required) this.missing.push(`${name} (scalar)`);
      return undefined;
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== 1 || t.dtype !== 'f32') {
      this.misshaped.push(`${name} is ${t.dtype} ${fmtShape(t.shape)}, expected an f32 scalar`);
      return undefined;
    }
    return new DataView(t.data.buffer, t.data.byteOffset, 4).getFloat32(0, true);
  }

  finish(source: string): void {
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
