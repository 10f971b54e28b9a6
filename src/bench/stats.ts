/** Median of a non-empty list (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median milliseconds per call of `run(i)` over `iters` timed calls after `warm` untimed ones (kernel benchmarks). */
export function medianCallMs(iters: number, warm: number, run: (i: number) => void): number {
  for (let i = 0; i < warm; i++) run(i);
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    run(i);
    ts.push(performance.now() - t0);
  }
  return median(ts);
}
