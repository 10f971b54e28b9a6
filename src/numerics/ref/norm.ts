/** RMSNorm (grouped), the SiLU output gate, ReLU² and scaled accumulation. */

/** For each row of `dim` and each group of `groupSize`: v · rsqrt(mean(v²) + eps), then × weight. */
export function rmsNormRef(out: Float32Array, x: Float32Array, T: number, dim: number, weight: Float32Array, eps: number, groupSize: number): void {
  for (let t = 0; t < T; t++) {
    for (let g0 = 0; g0 < dim; g0 += groupSize) {
      const base = t * dim + g0;
      let ss = 0;
      for (let i = 0; i < groupSize; i++) ss += x[base + i]! * x[base + i]!;
      const inv = 1 / Math.sqrt(ss / groupSize + eps);
      for (let i = 0; i < groupSize; i++) out[base + i] = x[base + i]! * inv * weight[g0 + i]!;
    }
  }
}

export function silu(v: number): number {
  return v / (1 + Math.exp(-v));
}

/** y ← y · SiLU(z) (gate before the norm, as Nemotron-H's norm_before_gate = False). */
export function siluGateRef(y: Float32Array, z: Float32Array, T: number, dim: number, zStride: number): void {
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < dim; i++) y[t * dim + i] = y[t * dim + i]! * silu(z[t * zStride + i]!);
  }
}

export function relu2Ref(x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i]! > 0 ? x[i]! : 0;
    x[i] = v * v;
  }
}

export function addScaledRef(acc: Float32Array, x: Float32Array, n: number, scale: number): void {
  for (let i = 0; i < n; i++) acc[i] = acc[i]! + scale * x[i]!;
}
