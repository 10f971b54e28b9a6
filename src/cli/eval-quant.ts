/**
 * `tandem eval-quant`: compare a candidate model (e.g. a quantized checkpoint) with a reference on a text file:
 * KL divergence, same-top rate, PPL of both, Δp, weight bytes and bits per weight, sequence-state bytes, timings.
 * The protocol (chunks, second half scored) is documented in src/engine/eval-quant.ts.
 */
import { evalQuant, readEvalText, type EvalQuantReport, type EvalSide } from '../engine/eval-quant.js';
import { humanBytes } from './inspect.js';

export interface EvalQuantFlags {
  readonly reference: string;
  readonly candidate: string;
  readonly text: string;
  readonly json?: boolean;
  readonly ctx: number;
  readonly maxTokens: number;
  readonly kvCache: 'f32' | 'fp8';
  readonly ssmState: 'f32' | 'bf16';
  readonly emulateActivations?: boolean;
}

const pct = (x: number, digits = 2): string => `${(100 * x).toFixed(digits)} %`;
const signed = (x: number, digits: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
/** Small numbers (KL) in fixed or scientific notation, whichever reads better. */
const num = (x: number): string => (x === 0 ? '0' : Math.abs(x) >= 1e-3 ? x.toFixed(6) : x.toExponential(3));
const bpw = (x: number | null): string => (x === null ? '–' : x.toFixed(3));
const secs = (s: number): string => `${s.toFixed(2)} s`;

function byFormat(s: EvalSide): string {
  return Object.entries(s.bytesByFormat)
    .sort((a, b) => b[1] - a[1])
    .map(([f, b]) => `${f} ${humanBytes(b)}`)
    .join(', ');
}

/** Rows of the two-column model table. */
function sideRows(r: EvalQuantReport): Array<[string, string, string]> {
  const row = (label: string, f: (s: EvalSide) => string): [string, string, string] => [label, f(r.reference), f(r.candidate)];
  const tps = (s: EvalSide): string => (s.seconds.eval > 0 ? `${((r.metrics.chunks * (r.metrics.ctx - 1)) / s.seconds.eval).toFixed(1)} tok/s` : '–');
  return [
    row('path', (s) => s.path),
    row('format', (s) => (s.format === 'hf' ? 'HF safetensors' : 'GGUF') + (s.emulateActivations ? ', activations emulated' : '')),
    row('parameters', (s) => s.params.toLocaleString('en-US')),
    row('weights', (s) => humanBytes(s.weightBytes)),
    row('  by format', byFormat),
    row('bits/weight', (s) => bpw(s.bitsPerWeight)),
    row('  quantized only', (s) => (s.quantizedBitsPerWeight === null ? '– (none)' : `${bpw(s.quantizedBitsPerWeight)} (${s.quantizedParams.toLocaleString('en-US')} weights)`)),
    row('state format', (s) => `KV ${s.stateFormat.kv}, SSM ${s.stateFormat.ssm}`),
    row('state @ 8k', (s) => humanBytes(s.stateBytes['8k'])),
    row('state @ 128k', (s) => humanBytes(s.stateBytes['128k'])),
    row('state @ 1M', (s) => humanBytes(s.stateBytes['1M'])),
    row('load', (s) => secs(s.seconds.load)),
    row('eval', (s) => `${secs(s.seconds.eval)} (${tps(s)})`),
  ];
}

/** The report as a table for people. */
export function formatEvalQuant(r: EvalQuantReport): string {
  const m = r.metrics;
  const rows = sideRows(r);
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max('reference'.length, ...rows.map((x) => x[1].length));
  const line = (a: string, b: string, c: string): string => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`.trimEnd();
  const out = [
    line('', 'reference', 'candidate'),
    ...rows.map(([a, b, c]) => line(a, b, c)),
    '',
    `scored         ${m.positions} positions: ${m.chunks} chunk${m.chunks === 1 ? '' : 's'} × ${m.ctx} tokens, second half of each (${m.tokensUsed} of ${m.textTokens} text tokens)`,
    `KL divergence  mean ${num(m.kl.mean)} ± ${num(m.kl.meanErr)} · median ${num(m.kl.median)} · p90 ${num(m.kl.p90)} · p99 ${num(m.kl.p99)} · max ${num(m.kl.max)}`,
    `same top       ${pct(m.sameTop.rate)} ± ${pct(m.sameTop.err)}`,
    `PPL            reference ${m.ppl.reference.toFixed(4)} · candidate ${m.ppl.candidate.toFixed(4)} · Δ ${signed(m.ppl.delta, 4)} ± ${m.ppl.deltaErr.toFixed(4)} · ratio ${m.ppl.ratio.toFixed(5)}`,
    `Δp             mean ${signed(100 * m.deltaP.mean, 3)} % · RMS ${(100 * m.deltaP.rms).toFixed(3)} %`,
    `time           tokenize ${secs(m.seconds.tokenize)} · total ${secs(m.seconds.total)}`,
  ];
  return out.join('\n');
}

export function evalQuantCommand(f: EvalQuantFlags): void {
  const text = readEvalText(f.text);
  const progress = process.stderr.isTTY
    ? (done: number, n: number): void => void process.stderr.write(`\rchunk ${done}/${n}${done === n ? '\n' : ''}`)
    : undefined;
  const report = evalQuant(f.reference, f.candidate, text, {
    ctx: f.ctx,
    maxTokens: f.maxTokens,
    candidate: { kvCache: f.kvCache, ssmState: f.ssmState, emulateActivations: f.emulateActivations ?? false },
    onProgress: progress,
  });
  const json = (): string => JSON.stringify(report, (_k, v: unknown) => (v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v), 2);
  process.stdout.write((f.json ? json() : formatEvalQuant(report)) + '\n');
}
