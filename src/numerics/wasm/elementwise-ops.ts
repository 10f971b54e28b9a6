/**
 * RMSNorm, the SiLU gate, ReLU² and scaled accumulation on the wasm kernels (assembly/elementwise.ts). Each call
 * copies its rows into the first shard's scratch, runs the kernel and copies the result back; inputs larger than the
 * scratch run in row (or element) blocks. Besides SIMD this saves the JIT warm-up the plain loops pay in the first
 * calls of a short run.
 */
import { refBackend } from '../ref/index.js';
import type { OpScratch } from './op-scratch.js';

export class ElementwiseOps {
  readonly #s: OpScratch;

  constructor(scratch: OpScratch) {
    this.#s = scratch;
  }

  rmsNorm(out: Float32Array, x: Float32Array, T: number, dim: number, weight: Float32Array, eps: number, groupSize: number): void {
    if (T <= 0 || dim <= 0) return;
    const f = groupSize > 0 && dim % groupSize === 0 ? this.#s.fit(T, (n) => [n * dim * 4, n * dim * 4, dim * 4]) : undefined;
    if (!f) return refBackend.rmsNorm(out, x, T, dim, weight, eps, groupSize);
    const [xp, op, wp] = f.at as [number, number, number];
    this.#s.f32(wp, dim).set(weight.subarray(0, dim));
    for (let t0 = 0; t0 < T; t0 += f.n) {
      const n = Math.min(f.n, T - t0);
      this.#s.f32(xp, n * dim).set(x.subarray(t0 * dim, (t0 + n) * dim));
      this.#s.kernels.rmsNorm(op, xp, n, dim, wp, eps, groupSize);
      out.set(this.#s.f32(op, n * dim), t0 * dim);
    }
  }

  siluGate(y: Float32Array, z: Float32Array, T: number, dim: number, zStride: number): void {
    if (T <= 0 || dim <= 0) return;
    const f = this.#s.fit(T, (n) => [n * dim * 4, n * dim * 4]);
    if (!f) return refBackend.siluGate(y, z, T, dim, zStride);
    const [yp, zp] = f.at as [number, number];
    for (let t0 = 0; t0 < T; t0 += f.n) {
      const n = Math.min(f.n, T - t0);
      this.#s.f32(yp, n * dim).set(y.subarray(t0 * dim, (t0 + n) * dim));
      const zv = this.#s.f32(zp, n * dim);
      if (zStride === dim) zv.set(z.subarray(t0 * dim, (t0 + n) * dim));
      else for (let t = 0; t < n; t++) zv.set(z.subarray((t0 + t) * zStride, (t0 + t) * zStride + dim), t * dim);
      this.#s.kernels.siluGate(yp, zp, n * dim);
      y.set(this.#s.f32(yp, n * dim), t0 * dim);
    }
  }

  relu2(x: Float32Array, n: number): void {
    if (n <= 0) return;
    const f = this.#s.fit(n, (k) => [k * 4]);
    if (!f) return refBackend.relu2(x, n);
    const [xp] = f.at as [number];
    for (let i0 = 0; i0 < n; i0 += f.n) {
      const k = Math.min(f.n, n - i0);
      this.#s.f32(xp, k).set(x.subarray(i0, i0 + k));
      this.#s.kernels.relu2(xp, k);
      x.set(this.#s.f32(xp, k), i0);
    }
  }

  addScaled(acc: Float32Array, x: Float32Array, n: number, scale: number): void {
    if (n <= 0) return;
    const f = this.#s.fit(n, (k) => [k * 4, k * 4]);
    if (!f) return refBackend.addScaled(acc, x, n, scale);
    const [ap, xp] = f.at as [number, number];
    for (let i0 = 0; i0 < n; i0 += f.n) {
      const k = Math.min(f.n, n - i0);
      this.#s.f32(ap, k).set(acc.subarray(i0, i0 + k));
      this.#s.f32(xp, k).set(x.subarray(i0, i0 + k));
      this.#s.kernels.addScaled(ap, xp, k, scale);
      acc.set(this.#s.f32(ap, k), i0);
    }
  }
}
