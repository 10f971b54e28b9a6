/**
 * The non-timing logic of `tandem bench`: the wasm read kernel reads every word exactly once, the bandwidth probe's
 * spans tile its buffer, the roofline counts the bytes a decode token streams, engines alternate ABBA, summaries pick
 * best and median, and bad targets/backends are one clear error. No timing assertions (speed lives in benchmarks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModelConfig } from '../formats/config.js';
import { buildWeights, weightTally, type ModelWeights } from '../formats/weights.js';
import type { Matrix } from '../numerics/tensor.js';
import { errorOf } from '../testing/error-of.js';
import { Rng } from '../testing/rng.js';
import { tinyConfigJson, tinyTensors } from '../testing/tiny-model.js';
import { chooseBackend } from './backend-choice.js';
import { listBackends } from '../numerics/select.js';
import { measureReadBandwidth, splitSpans } from './bandwidth.js';
import { checkBenchTarget } from './model-bench.js';
import { READ_STEP_BYTES, WASM_PAGE_BYTES, instantiateReadKernel, readKernelBytes, wasmApi } from './read-kernel.js';
import { decodeBytesPerToken, rooflineTokensPerSecond } from './roofline.js';
import { alternationOrder, benchTokens, summarize } from './tandem-timing.js';

test('read kernel: valid wasm; sum(start, end) is the mod-2^32 sum of exactly the words in [start, end)', () => {
  const bytes = readKernelBytes();
  assert.ok(wasmApi.validate(bytes));
  const memory = new wasmApi.Memory({ initial: 2, maximum: 2, shared: true });
  const words = new Uint32Array(memory.buffer);
  const rng = new Rng(7);
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(rng.next() * 2 ** 32) >>> 0;
  const k = instantiateReadKernel(new wasmApi.Module(bytes), memory);
  const spans: Array<[number, number]> = [[0, memory.buffer.byteLength], [READ_STEP_BYTES, 5 * READ_STEP_BYTES], [WASM_PAGE_BYTES - READ_STEP_BYTES, WASM_PAGE_BYTES + 3 * READ_STEP_BYTES], [256, 256]];
  for (const [start, end] of spans) {
    let want = 0;
    for (let i = start / 4; i < end / 4; i++) want = (want + words[i]!) >>> 0;
    assert.equal(k.sum(start, end), want, `span [${start}, ${end})`);
  }
});

test('bandwidth spans tile the buffer in kernel steps, the last taking the rest', () => {
  for (const [bytes, threads] of [[2 ** 20, 1], [2 ** 20, 2], [3 * WASM_PAGE_BYTES, 2], [5 * WASM_PAGE_BYTES, 3]] as const) {
    const spans = splitSpans(bytes, threads);
    assert.equal(spans.length, threads);
    assert.equal(spans[0]![0], 0);
    assert.equal(spans.at(-1)![1], bytes);
    spans.forEach(([s, e], i) => {
      assert.ok(e > s && s % READ_STEP_BYTES === 0 && e % READ_STEP_BYTES === 0, `span ${i} [${s}, ${e})`);
      if (i > 0) assert.equal(s, spans[i - 1]![1]);
    });
  }
});

test('bandwidth probe runs on 1 and 2 worker threads over a small buffer and reports its settings', async () => {
  for (const threads of [1, 2]) {
    const r = await measureReadBandwidth({ threads, bytes: 4 * 2 ** 20, passes: 2 });
    console.log(`probe ${threads} thread(s), 4 MiB (cache-resident, not a DRAM figure): ${r.readGBs.toFixed(1)} GB/s`);
    assert.equal(r.threads, threads);
    assert.equal(r.bufferBytes, 4 * 2 ** 20);
    assert.equal(r.passes, 2);
    assert.ok(r.readGBs > 0 && r.medianGBs > 0 && r.medianGBs <= r.readGBs);
  }
});

function tinyWeights(pattern: string): { weights: ModelWeights; cfg: ReturnType<typeof parseModelConfig> } {
  const cfg = parseModelConfig(tinyConfigJson(pattern, 64, 256));
  const weights = buildWeights(cfg, new Map(tinyTensors(cfg, 1, 'f32').map((t) => [t.name, t])), 'hf', 'test');
  return { weights, cfg };
}

test('decode bytes per token: all layer weights, the LM head, one row of an untied embedding, top-k of the experts', () => {
  const dense = tinyWeights('M*-M');
  const V = dense.cfg.vocabSize, H = dense.cfg.hiddenSize;
  // f32 everywhere: 4 bytes per parameter, minus every embedding row but one
  assert.equal(decodeBytesPerToken(dense.weights, 0), 4 * (weightTally(dense.weights).params - V * H + H));
  const moe = tinyWeights('ME*EME');
  const m = moe.cfg.moe!;
  const idle = 2 * moe.cfg.layers.filter((k) => k === 'moe').length * (m.numExperts - m.topK) * m.expertDim * m.latentSize; // up + down per expert
  assert.equal(decodeBytesPerToken(moe.weights, m.topK), 4 * (weightTally(moe.weights).params - V * H + H - idle));
  const head: Matrix = { dtype: 'q8_0', rows: 10, cols: 32, data: new Uint8Array(10 * 34) };
  const tied: ModelWeights = { embed: head, lmHead: head, layers: [], normF: new Float32Array(32) };
  assert.equal(decodeBytesPerToken(tied, 0), 10 * 34 + 32 * 4, 'a tied embedding is the LM head, counted once');
});

test('roofline tokens/s = bandwidth / bytes per token', () => {
  assert.equal(rooflineTokensPerSecond(1e6, 10), 10_000);
  assert.equal(rooflineTokensPerSecond(4e9, 14), 3.5);
});

test('alternation order is ABBA… so neither engine always runs first', () => {
  assert.deepEqual(alternationOrder(3, ['tandem', 'llama']), ['tandem', 'llama', 'llama', 'tandem', 'tandem', 'llama']);
  assert.deepEqual(alternationOrder(4, ['a', 'b']).filter((e) => e === 'a').length, 4);
  assert.deepEqual(alternationOrder(2, ['tandem']), ['tandem', 'tandem']);
  assert.deepEqual(alternationOrder(0, ['a', 'b']), []);
});

test('summaries: best and median tokens/s per phase', () => {
  const s = summarize([{ prefillMs: 1000, decodeMs: 500 }, { prefillMs: 2000, decodeMs: 250 }, { prefillMs: 4000, decodeMs: 1000 }], 100, 50);
  assert.deepEqual(s, { prefill: 100, decode: 200, prefillMedian: 50, decodeMedian: 100 });
  assert.throws(() => summarize([], 1, 1));
});

test('bench tokens: deterministic, in the vocabulary, prompt and decode streams differ', () => {
  const p = benchTokens(50, 200, 0);
  assert.equal(p.length, 200);
  assert.ok(p.every((t) => Number.isInteger(t) && t >= 0 && t < 50));
  assert.deepEqual(benchTokens(50, 200, 0), p);
  assert.notDeepEqual(benchTokens(50, 20, 1), p.slice(0, 20));
});

test('--vs llama: an HF directory, a missing path or a missing node-llama-cpp is one clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-'));
  try {
    assert.match(errorOf(() => checkBenchTarget(dir, true, () => true)), /^BAD_ARGUMENT: --vs llama needs a \.gguf file .*model\.gguf/);
    assert.match(errorOf(() => checkBenchTarget(join(dir, 'nope.gguf'), true, () => true)), /^NOT_FOUND: model path .* does not exist/);
    assert.match(errorOf(() => checkBenchTarget(join(dir, 'nope.gguf'), false, () => false)), /^no error$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(errorOf(() => checkBenchTarget(process.execPath, true, () => false)), /^UNSUPPORTED: --vs llama needs node-llama-cpp 3\.21\.1.*npm i -E node-llama-cpp@3\.21\.1/);
});

test('backend choice: ref on 1 thread only; auto gives the thread count asked for; native where built, else one clear error', async () => {
  const nativeHere = listBackends().some((b) => b.name === 'native' && b.available());
  const ref = await chooseBackend('ref', 1);
  assert.equal(ref.backend.name, 'ref');
  assert.equal(ref.threads, 1);
  await ref.dispose();
  const auto = await chooseBackend('auto', 1);
  assert.equal(auto.backend.name, nativeHere ? 'native' : 'wasm');
  assert.equal(auto.threads, 1);
  await auto.dispose();
  await assert.rejects(chooseBackend('ref', 2), /--threads 2: backend ref runs on 1 thread/);
  if (nativeHere) await (await chooseBackend('native', 1)).dispose();
  else await assert.rejects(chooseBackend('native', 1), /no native backend/);
});
