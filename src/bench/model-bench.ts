/**
 * `tandem bench [model]`: prefill and decode tokens/s of one model on one backend and thread count, the memory read
 * bandwidth measured in the same process, the decode roofline (bandwidth ÷ weight bytes streamed per token) and, with
 * `vsLlama`, llama.cpp (node-llama-cpp 3.21.1, in a child process) on the same GGUF with the same threads, the two
 * engines alternating ABBA… for `reps` rounds in one run (the machine is shared and noisy; side by side is the only
 * fair comparison). Headline figures are the best run; medians and every run are in the report too.
 *
 * Report keys (`--json` prints the report as it is; tokens per second unless named otherwise):
 *   model      {path, format, params, weightBytes, bytesByFormat, decodeBytesPerToken}
 *   backend, threads, promptTokens, decodeTokens, batch, reps
 *   bandwidth  {threads, bufferBytes, passes, readGBs, medianGBs, method} | null (probe skipped)
 *   roofline   {bytesPerToken, readGBs, decode: tokens/s the bandwidth allows} | null
 *   tandem     {prefill, decode, prefillMedian, decodeMedian, decodeRooflineRatio | null, runs: [{prefillMs, decodeMs}]}
 *   llama      same as tandem plus {version, threads, loadMs} | null (without --vs llama)
 *   ratio      {prefill, decode}: tandem ÷ llama (best runs) | null
 */
import { statSync } from 'node:fs';
import { TandemError } from '../errors.js';
import { loadModel } from '../engine/load-model.js';
import { weightTally } from '../formats/weights.js';
import type { Model } from '../model/nemotron-h.js';
import { chooseBackend, type BenchBackendName } from './backend-choice.js';
import { measureReadBandwidth, type BandwidthResult } from './bandwidth.js';
import { LLAMA_PACKAGE, LLAMA_VERSION, LlamaBench, llamaAvailable } from './llama-runner.js';
import { decodeBytesPerToken, rooflineTokensPerSecond } from './roofline.js';
import { alternationOrder, benchTokens, summarize, timeTandem, type RunTiming, type SpeedSummary } from './tandem-timing.js';

export interface ModelBenchOptions {
  readonly model: string;
  readonly backend: BenchBackendName;
  readonly threads: number;
  readonly promptTokens: number;
  readonly decodeTokens: number;
  /** Prompt tokens per forward pass (Tandem) and batch size (llama.cpp). */
  readonly batch: number;
  /** Timed rounds; each round runs every engine once. */
  readonly reps: number;
  readonly vsLlama: boolean;
  /** Bandwidth probe buffer; 0 skips the probe (and the roofline). */
  readonly bandwidthBytes: number;
  /** Progress lines (the CLI sends them to stderr). */
  readonly log: (line: string) => void;
}

export interface EngineResult extends SpeedSummary {
  /** Best decode tokens/s ÷ roofline tokens/s (1 = streaming the weights at the measured read bandwidth). */
  readonly decodeRooflineRatio: number | null;
  readonly runs: readonly RunTiming[];
}

export interface LlamaResult extends EngineResult {
  readonly version: string;
  readonly threads: number;
  readonly loadMs: number;
}

export interface ModelBenchReport {
  readonly model: {
    readonly path: string;
    readonly format: 'hf' | 'gguf';
    readonly params: number;
    readonly weightBytes: number;
    readonly bytesByFormat: Readonly<Record<string, number>>;
    readonly decodeBytesPerToken: number;
  };
  readonly backend: string;
  /** The kernel instruction set the backend runs (wasm: `relaxed-simd` or `simd128`); null when it has no choice. */
  readonly isa: string | null;
  readonly threads: number;
  readonly promptTokens: number;
  readonly decodeTokens: number;
  readonly batch: number;
  readonly reps: number;
  readonly bandwidth: BandwidthResult | null;
  readonly roofline: { readonly bytesPerToken: number; readonly readGBs: number; readonly decode: number } | null;
  readonly tandem: EngineResult;
  readonly llama: LlamaResult | null;
  readonly ratio: { readonly prefill: number; readonly decode: number } | null;
}

function isaOf(b: object): string | null {
  return 'isa' in b && typeof b.isa === 'string' ? b.isa : null;
}

export const BENCH_MODEL_KEYS = [
  'model', 'backend', 'isa', 'threads', 'promptTokens', 'decodeTokens', 'batch', 'reps', 'bandwidth', 'roofline', 'tandem', 'llama', 'ratio',
] as const;

const BANDWIDTH_PASSES = 10;

/** Checks that need no model loaded: --vs llama wants a GGUF file and node-llama-cpp. */
export function checkBenchTarget(path: string, vsLlama: boolean, hasLlama: () => boolean = llamaAvailable): void {
  if (!vsLlama) return;
  let dir = false;
  try {
    dir = statSync(path).isDirectory();
  } catch {
    throw new TandemError('NOT_FOUND', `model path ${path} does not exist (give an HF model directory or a .gguf file)`);
  }
  if (dir) {
    throw new TandemError('BAD_ARGUMENT', `--vs llama needs a .gguf file (llama.cpp reads GGUF only), got the directory ${path}; pass its GGUF (e.g. ${path}/model.gguf) or convert it: tandem quantize --model ${path} --format f32 --out model.gguf`);
  }
  if (!hasLlama()) {
    throw new TandemError('UNSUPPORTED', `--vs llama needs ${LLAMA_PACKAGE} ${LLAMA_VERSION}, which is not installed here; install it with npm i -E ${LLAMA_PACKAGE}@${LLAMA_VERSION}`);
  }
}

function checkContext(model: Model, o: ModelBenchOptions): void {
  const need = o.promptTokens + o.decodeTokens;
  if (need > model.config.maxPositions) {
    throw new TandemError('BAD_ARGUMENT', `--prompt-tokens + --decode-tokens = ${need} exceeds the model's context of ${model.config.maxPositions} tokens; lower them`);
  }
}

function modelFacts(path: string, format: 'hf' | 'gguf', model: Model): ModelBenchReport['model'] {
  const tally = weightTally(model.weights);
  const weightBytes = Object.values(tally.bytes).reduce((a, b) => a + b, 0);
  const topK = model.config.moe?.topK ?? 0;
  return { path, format, params: tally.params, weightBytes, bytesByFormat: tally.bytes, decodeBytesPerToken: decodeBytesPerToken(model.weights, topK) };
}

function engineResult(runs: readonly RunTiming[], o: ModelBenchOptions, rooflineTps: number | null): EngineResult {
  const s = summarize(runs, o.promptTokens, o.decodeTokens);
  return { ...s, decodeRooflineRatio: rooflineTps === null ? null : s.decode / rooflineTps, runs };
}

type Engine = 'tandem' | 'llama';

/** Warm-up (untimed), then the timed rounds in alternation order. */
async function timedRounds(model: Model, o: ModelBenchOptions, llama: LlamaBench | null): Promise<Record<Engine, RunTiming[]>> {
  const prompt = benchTokens(model.config.vocabSize, o.promptTokens, 0);
  const decode = benchTokens(model.config.vocabSize, o.decodeTokens, 1);
  const engines: Engine[] = llama ? ['tandem', 'llama'] : ['tandem'];
  const runOne = (e: Engine, p: readonly number[], d: readonly number[]): Promise<RunTiming> =>
    e === 'tandem' ? Promise.resolve(timeTandem(model, p, d, o.batch)) : llama!.run(p, d);
  o.log('warming up');
  for (const e of engines) await runOne(e, prompt.slice(0, Math.min(16, prompt.length)), decode.slice(0, Math.min(4, decode.length)));
  const runs: Record<Engine, RunTiming[]> = { tandem: [], llama: [] };
  const order = alternationOrder(o.reps, engines);
  for (const [i, e] of order.entries()) {
    const r = await runOne(e, prompt, decode);
    runs[e].push(r);
    o.log(`run ${i + 1}/${order.length} ${e === 'tandem' ? 'tandem   ' : 'llama.cpp'}  prefill ${(o.promptTokens * 1000 / r.prefillMs).toFixed(1)} tok/s  decode ${(o.decodeTokens * 1000 / r.decodeMs).toFixed(1)} tok/s`);
  }
  return runs;
}

async function probe(o: ModelBenchOptions, threads: number): Promise<BandwidthResult | null> {
  if (o.bandwidthBytes === 0) return null;
  o.log(`measuring memory read bandwidth (${threads} thread${threads > 1 ? 's' : ''}, ${Math.round(o.bandwidthBytes / 2 ** 20)} MiB)`);
  return measureReadBandwidth({ threads, bytes: o.bandwidthBytes, passes: BANDWIDTH_PASSES });
}

async function startLlama(o: ModelBenchOptions): Promise<{ bench: LlamaBench; version: string; threads: number; loadMs: number }> {
  o.log(`starting llama.cpp (${LLAMA_PACKAGE}) on ${o.model}`);
  const { bench, ready } = await LlamaBench.start({
    model: o.model, threads: o.threads, batchSize: o.batch, contextSize: Math.max(64, o.promptTokens + o.decodeTokens + 8),
  });
  return { bench, version: ready.version, threads: ready.threads, loadMs: ready.loadMs };
}

export async function benchModel(o: ModelBenchOptions): Promise<ModelBenchReport> {
  checkBenchTarget(o.model, o.vsLlama);
  const chosen = await chooseBackend(o.backend, o.threads, o.log);
  try {
    const loaded = loadModel(o.model, { backend: chosen.backend });
    const model = loaded.model;
    checkContext(model, o);
    const facts = modelFacts(o.model, loaded.format, model);
    const bandwidth = await probe(o, chosen.threads);
    const roof = bandwidth ? rooflineTokensPerSecond(facts.decodeBytesPerToken, bandwidth.readGBs) : null;
    const llama = o.vsLlama ? await startLlama(o) : null;
    let runs: Record<Engine, RunTiming[]>;
    try {
      runs = await timedRounds(model, o, llama?.bench ?? null);
    } finally {
      await llama?.bench.close();
    }
    const tandem = engineResult(runs.tandem, o, roof);
    const llamaResult: LlamaResult | null = llama
      ? { ...engineResult(runs.llama, o, roof), version: llama.version, threads: llama.threads, loadMs: llama.loadMs }
      : null;
    return {
      model: facts, backend: model.backend.name, isa: isaOf(model.backend), threads: chosen.threads,
      promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, batch: o.batch, reps: o.reps,
      bandwidth,
      roofline: bandwidth && roof !== null ? { bytesPerToken: facts.decodeBytesPerToken, readGBs: bandwidth.readGBs, decode: roof } : null,
      tandem, llama: llamaResult,
      ratio: llamaResult ? { prefill: tandem.prefill / llamaResult.prefill, decode: tandem.decode / llamaResult.decode } : null,
    };
  } finally {
    await chosen.dispose();
  }
}
