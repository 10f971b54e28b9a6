/** A sequence state filled with seeded random values (conv/SSM state, KV rows and FP8 scales), for codec tests. */
import type { ModelConfig } from '../formats/config.js';
import { createState, kvDim, reserveKv, type SequenceState } from '../model/state.js';
import { Rng } from './rng.js';

export function filledState(cfg: ModelConfig, tokens: number, kv: 'f32' | 'fp8' = 'f32', fingerprint = 'fp-a'): SequenceState {
  const s = createState(cfg, fingerprint, { kv, ssm: 'f32' });
  const rng = new Rng(5);
  for (let i = 0; i < tokens; i++) s.tokens.push(rng.int(300));
  for (const l of s.layers) {
    if (l.kind === 'mamba2') [l.conv, l.ssm].forEach((a) => a.forEach((_, i) => (a[i] = rng.normal())));
    if (l.kind !== 'attention') continue;
    reserveKv(l, tokens, kvDim(cfg), cfg.attention.numKvHeads);
    if (l.format === 'f32') [l.k, l.v].forEach((a) => a.forEach((_, i) => (a[i] = rng.normal())));
    else {
      [l.k, l.v].forEach((a) => a.forEach((_, i) => (a[i] = rng.int(255))));
      [l.kScale, l.vScale].forEach((a) => a.forEach((_, i) => (a[i] = rng.normal())));
    }
  }
  return s;
}
