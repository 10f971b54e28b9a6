/**
 * `npm run precision-table`: make docs/precision.md's results table. Generates one deterministic model, quantizes it
 * to every format with `tandem quantize` (library calls), and compares each against the F32 original with eval-quant on
 * tests/data/eval.txt. Also rows for the FP8 KV cache and BF16 SSM state on the F32 model. Prints Markdown.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/engine/load-model.js';
import { evalQuantLoaded, type CandidateOptions, type EvalQuantReport } from '../src/engine/eval-quant.js';
import { calibrate, type QuantFormat } from '../src/engine/quantize.js';
import { writeModelOptDir, writeQuantizedGguf } from '../src/engine/quantize-write.js';
import { makeTiny } from '../src/testing/tiny-model.js';
import { repoRoot } from '../src/testing/golden.js';

export const PRECISION_MODEL = {
  pattern: 'M*M-M-*M', seed: 21, headScale: 1,
  overrides: { hidden_size: 256, intermediate_size: 512, mamba_num_heads: 8, mamba_head_dim: 32, num_attention_heads: 8, head_dim: 32 },
};

interface Row { readonly label: string; readonly r: EvalQuantReport }

const tmp = mkdtempSync(join(tmpdir(), 'tandem-precision-'));
const text = readFileSync(join(repoRoot(), 'tests/data/eval.txt'), 'utf8');
const src = join(tmp, 'f32');
makeTiny(src, PRECISION_MODEL);
const ref = loadModel(src);
const calib = calibrate(ref.model, ref.tokenizer().encode(text).slice(0, 256));
const rows: Row[] = [];
const run = (label: string, path: string, cand: CandidateOptions = {}): void => {
  process.stderr.write(`${label}…\n`);
  rows.push({ label, r: evalQuantLoaded(ref, loadModel(path, cand), text, { ctx: 128, maxTokens: 2048, candidate: cand }) });
};
const formats: Array<[string, QuantFormat]> = [
  ['BF16 (GGUF)', 'bf16'], ['FP8 E4M3 (ModelOpt)', 'fp8'], ['Q8_0', 'q8_0'], ['Q6_K', 'q6_k'], ['Q5_K', 'q5_k'],
  ['NVFP4 (ModelOpt)', 'nvfp4'], ['NVFP4 (ggml, no tensor scale)', 'nvfp4-gguf'], ['Q4_K', 'q4_k'], ['Q4_0', 'q4_0'], ['MXFP4 (ggml)', 'mxfp4'],
];
for (const [label, format] of formats) {
  const hf = format === 'fp8' || format === 'nvfp4';
  const out = join(tmp, hf ? format : `${format}.gguf`);
  if (hf) writeModelOptDir(ref, { format, out, inputAmax: calib });
  else writeQuantizedGguf(ref, { format, out });
  run(label, out);
  if (hf) run(`${label}, W${format === 'fp8' ? '8A8' : '4A4'} emulated`, out, { emulateActivations: true });
}
run('F32 weights, FP8 KV cache', src, { kvCache: 'fp8' });
run('F32 weights, BF16 SSM state', src, { ssmState: 'bf16' });
run('NVFP4 + FP8 KV + BF16 SSM', join(tmp, 'nvfp4'), { kvCache: 'fp8', ssmState: 'bf16' });

const mib = (b: number): string => (b / 2 ** 20).toFixed(2);
const f = (v: number | null, d = 3): string => (v === null ? '–' : v.toFixed(d));
console.log('| format | bits/weight (quantized tensors) | bits/weight (all) | weight MiB | mean KL | p99 KL | same top-1 | PPL | ΔPPL | state @ 128k MiB |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
const r0 = rows[0]!.r;
console.log(`| F32 reference | – | ${f(r0.reference.bitsPerWeight)} | ${mib(r0.reference.weightBytes)} | 0 | 0 | 100 % | ${r0.metrics.ppl.reference.toFixed(2)} | 0 | ${mib(r0.reference.stateBytes['128k'])} |`);
for (const { label, r } of rows) {
  const m = r.metrics;
  console.log(`| ${label} | ${f(r.candidate.quantizedBitsPerWeight)} | ${f(r.candidate.bitsPerWeight)} | ${mib(r.candidate.weightBytes)} | ${m.kl.mean.toExponential(2)} | ${m.kl.p99.toExponential(2)} | ${(100 * m.sameTop.rate).toFixed(1)} % | ${m.ppl.candidate.toFixed(2)} | ${m.ppl.delta >= 0 ? '+' : ''}${m.ppl.delta.toFixed(2)} ± ${m.ppl.deltaErr.toFixed(2)} | ${mib(r.candidate.stateBytes['128k'])} |`);
}
console.log(`\n${r0.metrics.positions} scored positions (${r0.metrics.chunks} chunks of ${r0.metrics.ctx} tokens, second half of each) on tests/data/eval.txt; model ${JSON.stringify(PRECISION_MODEL)}.`);
rmSync(tmp, { recursive: true, force: true });
