/**
 * Causal GQA attention on the wasm kernels (assembly/attention.ts), f32 and FP8 E4M3 caches. The call copies the
 * queries and the used cache rows (0..pos0+T−1, codes and scales for FP8) into the first shard's scratch; FP8 rows are
 * decoded per KV head through a 256-entry table built from ref's own e4m3ToF32 (so the decoded values are ref's).
 * Queries that do not fit at once run in blocks (each block sees the whole cache); a cache too large for the scratch,
 * or a query head count that is not a multiple of the KV head count, runs the ref op.
 */
import type { AttentionArgs } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { e4m3ToF32 } from '../dtypes/fp8.js';
import type { OpScratch } from './op-scratch.js';

const E4M3_TABLE = Float32Array.from({ length: 256 }, (_, c) => e4m3ToF32(c));

export class AttentionOps {
  readonly #s: OpScratch;

  constructor(scratch: OpScratch) {
    this.#s = scratch;
  }

  attention(a: AttentionArgs): void {
    const { T, pos0, numHeads: nq, numKvHeads: nkv, headDim: dh, q, kv, out } = a;
    if (T <= 0) return;
    if (nkv <= 0 || nq % nkv !== 0) return refBackend.attention(a);
    const len = pos0 + T, w = nkv * dh, qw = nq * dh;
    const cache = kv.format === 'f32' ? [len * w * 4, len * w * 4] : [len * w, len * w, len * nkv * 4, len * nkv * 4, 1024, len * dh * 4, len * dh * 4];
    const f = this.#s.fit(T, (n) => [n * qw * 4, n * qw * 4, len * 4, ...cache]);
    if (!f) return refBackend.attention(a);
    const [qp, op, work, kp, vp, ksp, vsp, tbl, kdec, vdec] = f.at as number[] as [number, number, number, number, number, number, number, number, number, number];
    const k = this.#s.kernels;
    if (kv.format === 'f32') {
      this.#s.f32(kp, len * w).set(kv.k.subarray(0, len * w));
      this.#s.f32(vp, len * w).set(kv.v.subarray(0, len * w));
    } else {
      this.#s.u8(kp, len * w).set(kv.k.subarray(0, len * w));
      this.#s.u8(vp, len * w).set(kv.v.subarray(0, len * w));
      this.#s.f32(ksp, len * nkv).set(kv.kScale.subarray(0, len * nkv));
      this.#s.f32(vsp, len * nkv).set(kv.vScale.subarray(0, len * nkv));
      this.#s.f32(tbl, 256).set(E4M3_TABLE);
    }
    const per = nq / nkv;
    for (let h = 0; h < nkv; h++) {
      let kr = kp + h * dh * 4, vr = vp + h * dh * 4, ld = w;
      if (kv.format === 'fp8') {
        k.decodeFp8Rows(kdec, kp + h * dh, w, ksp + h * 4, nkv, len, dh, tbl);
        k.decodeFp8Rows(vdec, vp + h * dh, w, vsp + h * 4, nkv, len, dh, tbl);
        (kr = kdec), (vr = vdec), (ld = dh);
      }
      for (let t0 = 0; t0 < T; t0 += f.n) {
        const n = Math.min(f.n, T - t0);
        this.#s.f32(qp, n * qw).set(q.subarray(t0 * qw, (t0 + n) * qw));
        k.attendKvHead(n, pos0 + t0, h * per, (h + 1) * per, dh, qp, qw, kr, vr, ld, op, work);
        const ov = this.#s.f32(op, n * qw);
        for (let t = 0; t < n; t++) out.set(ov.subarray(t * qw + h * per * dh, t * qw + (h + 1) * per * dh), (t0 + t) * qw + h * per * dh);
      }
    }
  }
}
