/**
 * Write a synthetic benchmark model (shapes in ./synthetic-shapes.ts) as one GGUF file for Tandem and llama.cpp:
 * `nemotron_h` / `nemotron_h_moe` metadata from the config, the tiny byte-level BPE tokenizer padded with unused
 * `[PAD{id}]` tokens to the embedding's row count (as llama.cpp's converter pads a short vocabulary), and random
 * weights generated, encoded and written a chunk of rows at a time, so memory stays at a few chunks whatever the
 * model's size. Same seed, same file: each tensor draws from its own stream, seeded by the seed and its name.
 *
 * Weight scales follow ./tiny-model.ts so activations stay O(1): norms ≈ 1, matrices N(0, 1/cols), LM head 3× that,
 * embedding N(0, 0.25), Δ bias in [−3, −0.5], A = −U(1, 16) (GGUF stores A = −exp(A_log)), D in [0.5, 1.5].
 */
import { TandemError } from '../errors.js';
import type { ModelConfig } from '../formats/config.js';
import { ggufMetadataFromConfig } from '../formats/gguf-config.js';
import { writeGgufStream, type GgufTensorStream, type GgufValue, type GgufWriteProgress } from '../formats/gguf.js';
import { fromFloat32 } from '../numerics/dtypes/index.js';
import { ggufTokenizerKvs } from '../text/gguf-kv.js';
import { makeTinyTokenizer } from '../text/tiny-tokenizer.js';
import { tokenizerToGgufMeta } from '../text/tokenizer.js';
import { Rng } from './rng.js';
import {
  SYNTHETIC_DTYPE, parseSyntheticFormat, syntheticConfig, syntheticPlan, syntheticShape,
  type SyntheticFormat, type SyntheticOptions, type SyntheticPlan, type SyntheticShape, type SyntheticTensor,
} from './synthetic-shapes.js';

/** A synthetic model fully specified, before any weight is drawn. */
export interface SyntheticModel {
  readonly shape: SyntheticShape;
  readonly format: SyntheticFormat;
  readonly seed: number;
  readonly config: ModelConfig;
  readonly configJson: Readonly<Record<string, unknown>>;
  readonly plan: SyntheticPlan;
}

export function planSynthetic(shapeName: string, format: string, seed = 0, o: SyntheticOptions = {}): SyntheticModel {
  const shape = syntheticShape(shapeName);
  const fmt = parseSyntheticFormat(format);
  const { json, config } = syntheticConfig(shape, o);
  return { shape, format: fmt, seed, config, configJson: json, plan: syntheticPlan(config, fmt) };
}

/** FNV-1a of the name mixed with the seed: one independent stream per tensor. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The random draw for one element of a tensor in `slot`, whose rows have `cols` elements. */
function sampler(slot: string, cols: number, rng: Rng): () => number {
  switch (slot) {
    case 'norm': case 'normF': case 'gateNorm': return () => 1 + 0.1 * rng.normal();
    case 'convW': return () => 0.4 * rng.normal();
    case 'convB': return () => 0.1 * rng.normal();
    case 'dtBias': return () => rng.uniform(-3, -0.5);
    case 'A': return () => -rng.uniform(1, 16);
    case 'D': return () => rng.uniform(0.5, 1.5);
    case 'routerBias': return () => rng.uniform(-0.05, 0.05);
    case 'embed': return () => 0.5 * rng.normal();
    default: {
      const scale = (slot === 'lmHead' ? 3 : 1) / Math.sqrt(cols);
      return () => scale * rng.normal();
    }
  }
}

/** Elements drawn and encoded per chunk (whole rows; 16 MiB of f32). */
export const SYNTHETIC_CHUNK_ELEMENTS = 1 << 22;

/** The tensor's encoded bytes, a few whole rows at a time (the f32 scratch is reused: each chunk is written first). */
function* tensorChunks(t: SyntheticTensor, seed: number, chunkElements: number): Generator<Uint8Array> {
  const cols = t.shape[t.shape.length - 1]!;
  const total = t.shape.reduce((a, b) => a * b, 1);
  const scratch = new Float32Array(Math.min(total, Math.max(1, Math.floor(chunkElements / cols)) * cols));
  const draw = sampler(t.slot, cols, new Rng(tensorSeed(seed, t.name)));
  for (let at = 0; at < total; at += scratch.length) {
    const v = scratch.subarray(0, Math.min(scratch.length, total - at));
    for (let i = 0; i < v.length; i++) v[i] = draw();
    yield fromFloat32(t.dtype, v);
  }
}

/** The tiny tokenizer's GGUF keys with its token list padded to `vocabSize` (`[PAD{id}]`, type UNUSED). */
export function syntheticTokenizerKvs(vocabSize: number): Array<[string, GgufValue]> {
  const { tokenizerJson, tokenizerConfig } = makeTinyTokenizer();
  const meta = tokenizerToGgufMeta(tokenizerJson, tokenizerConfig);
  const n = meta.tokens.length;
  if (vocabSize < n) {
    throw new TandemError('BAD_ARGUMENT', `vocab_size ${vocabSize} is smaller than the synthetic tokenizer's ${n} tokens; use a vocabulary of at least ${n}`);
  }
  const pads = Array.from({ length: vocabSize - n }, (_, i) => `[PAD${n + i}]`);
  const types = meta.tokenTypes ?? meta.tokens.map(() => 1);
  return ggufTokenizerKvs({ ...meta, tokens: [...meta.tokens, ...pads], tokenTypes: [...types, ...pads.map(() => 5)] });
}

/** Model metadata (llama.cpp keys, `general.file_type` of the format) and the padded tokenizer. */
export function syntheticMetadata(m: SyntheticModel): Array<[string, GgufValue]> {
  const name = `tandem-synthetic-${m.shape.name}-${m.config.layers.length}L-${m.format}-s${m.seed}`;
  return [...ggufMetadataFromConfig(m.config, name, SYNTHETIC_DTYPE[m.format]), ...syntheticTokenizerKvs(m.config.vocabSize)];
}

export interface SyntheticWriteOptions {
  readonly onProgress?: GgufWriteProgress;
  /** Elements per generated chunk (default `SYNTHETIC_CHUNK_ELEMENTS`); the file does not depend on it. */
  readonly chunkElements?: number;
}

/** Draw, encode and write the model to `path` (through `path.tmp`); returns the file size in bytes. */
export function writeSynthetic(path: string, m: SyntheticModel, o: SyntheticWriteOptions = {}): number {
  const chunk = o.chunkElements ?? SYNTHETIC_CHUNK_ELEMENTS;
  const tensors: GgufTensorStream[] = m.plan.tensors.map((t) => ({
    name: t.name, dtype: t.dtype, shape: t.shape, chunks: () => tensorChunks(t, m.seed, chunk),
  }));
  return writeGgufStream(path, syntheticMetadata(m), tensors, { onProgress: o.onProgress });
}
