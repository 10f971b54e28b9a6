/**
 * A small strided f32 GEMM for the scans: c[r, j] += Σ_k a[r, k] · b[k, j] (row-major, leading dimensions in floats).
 * Register block 4 rows × 8 columns (8 accumulators), then 4 × 4, then scalar columns; leftover rows one at a time.
 * Causal modes for the chunked scan's triangles: K_CAUSAL sums only k ≤ r (rounded up to the 4-row block, so `a`
 * must be zero above its diagonal), C_CAUSAL computes only columns j ≤ r (rounded up to the block likewise).
 */

export const FULL = 0;
export const K_CAUSAL = 1;
export const C_CAUSAL = 2;

export function gemmAcc(a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, R: i32, C: i32, K: i32, mode: i32): void {
  const la = <usize>lda << 2, lb = <usize>ldb << 2, lc = <usize>ldc << 2;
  let r = 0;
  for (; r + 4 <= R; r += 4) {
    const cols = mode == C_CAUSAL ? min(C, r + 4) : C;
    const kEnd = mode == K_CAUSAL ? min(K, r + 4) : K;
    rows4(a + <usize>r * la, la, b, lb, c + <usize>r * lc, lc, cols, kEnd);
  }
  for (; r < R; r++) {
    const cols = mode == C_CAUSAL ? min(C, r + 1) : C;
    const kEnd = mode == K_CAUSAL ? min(K, r + 1) : K;
    row1(a + <usize>r * la, b, lb, c + <usize>r * lc, cols, kEnd);
  }
}

/** Four rows of c (at c, stride lc bytes) over columns 0..cols and k 0..kEnd. */
function rows4(a: usize, la: usize, b: usize, lb: usize, c: usize, lc: usize, cols: i32, kEnd: i32): void {
  let j = 0;
  for (; j + 8 <= cols; j += 8) block4x8(a, la, b + (<usize>j << 2), lb, c + (<usize>j << 2), lc, kEnd);
  for (; j + 4 <= cols; j += 4) block4x4(a, la, b + (<usize>j << 2), lb, c + (<usize>j << 2), lc, kEnd);
  for (; j < cols; j++) {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (let k = 0; k < kEnd; k++) {
      const ak = a + (<usize>k << 2);
      const bv = load<f32>(b + <usize>k * lb + (<usize>j << 2));
      s0 += load<f32>(ak) * bv;
      s1 += load<f32>(ak + la) * bv;
      s2 += load<f32>(ak + 2 * la) * bv;
      s3 += load<f32>(ak + 3 * la) * bv;
    }
    const cj = c + (<usize>j << 2);
    store<f32>(cj, load<f32>(cj) + s0);
    store<f32>(cj + lc, load<f32>(cj + lc) + s1);
    store<f32>(cj + 2 * lc, load<f32>(cj + 2 * lc) + s2);
    store<f32>(cj + 3 * lc, load<f32>(cj + 3 * lc) + s3);
  }
}

@inline function addTo(p: usize, v: v128): void {
  v128.store(p, f32x4.add(v128.load(p), v));
}

function block4x8(a: usize, la: usize, b: usize, lb: usize, c: usize, lc: usize, kEnd: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let bk = b, p0 = a, p1 = a + la, p2 = a + 2 * la, p3 = a + 3 * la;
  const end = a + (<usize>kEnd << 2);
  for (; p0 < end; p0 += 4, p1 += 4, p2 += 4, p3 += 4, bk += lb) {
    const b0 = v128.load(bk), b1 = v128.load(bk, 16);
    const a0 = v128.load32_splat(p0), a1 = v128.load32_splat(p1);
    const a2 = v128.load32_splat(p2), a3 = v128.load32_splat(p3);
    c00 = f32x4.add(c00, f32x4.mul(a0, b0));
    c01 = f32x4.add(c01, f32x4.mul(a0, b1));
    c10 = f32x4.add(c10, f32x4.mul(a1, b0));
    c11 = f32x4.add(c11, f32x4.mul(a1, b1));
    c20 = f32x4.add(c20, f32x4.mul(a2, b0));
    c21 = f32x4.add(c21, f32x4.mul(a2, b1));
    c30 = f32x4.add(c30, f32x4.mul(a3, b0));
    c31 = f32x4.add(c31, f32x4.mul(a3, b1));
  }
  addTo(c, c00), addTo(c + 16, c01);
  addTo(c + lc, c10), addTo(c + lc + 16, c11);
  addTo(c + 2 * lc, c20), addTo(c + 2 * lc + 16, c21);
  addTo(c + 3 * lc, c30), addTo(c + 3 * lc + 16, c31);
}

function block4x4(a: usize, la: usize, b: usize, lb: usize, c: usize, lc: usize, kEnd: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let bk = b;
  for (let k = 0; k < kEnd; k++, bk += lb) {
    const b0 = v128.load(bk);
    const ak = a + (<usize>k << 2);
    c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(ak), b0));
    c1 = f32x4.add(c1, f32x4.mul(v128.load32_splat(ak + la), b0));
    c2 = f32x4.add(c2, f32x4.mul(v128.load32_splat(ak + 2 * la), b0));
    c3 = f32x4.add(c3, f32x4.mul(v128.load32_splat(ak + 3 * la), b0));
  }
  addTo(c, c0);
  addTo(c + lc, c1);
  addTo(c + 2 * lc, c2);
  addTo(c + 3 * lc, c3);
}

/** One row of c over columns 0..cols and k 0..kEnd. */
function row1(a: usize, b: usize, lb: usize, c: usize, cols: i32, kEnd: i32): void {
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    let acc = f32x4.splat(0);
    let bk = b + (<usize>j << 2);
    for (let k = 0; k < kEnd; k++, bk += lb) acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(a + (<usize>k << 2)), v128.load(bk)));
    addTo(c + (<usize>j << 2), acc);
  }
  for (; j < cols; j++) {
    let s: f32 = 0;
    for (let k = 0; k < kEnd; k++) s += load<f32>(a + (<usize>k << 2)) * load<f32>(b + <usize>k * lb + (<usize>j << 2));
    store<f32>(c + (<usize>j << 2), load<f32>(c + (<usize>j << 2)) + s);
  }
}
