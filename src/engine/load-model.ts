/**
 * Open a model from a path: an HF directory (config.json + safetensors + tokenizer files) or a .gguf file.
 * The tokenizer is loaded lazily: token-id workflows (`tandem logprobs`) need none.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import { readModelConfig, type ModelConfig } from '../formats/config.js';
import { configFromGguf } from '../formats/gguf-config.js';
import { ggufArray, ggufBool, ggufNumberOr, ggufStringOr, readGgufFile, type GgufFile } from '../formats/gguf.js';
import { loadSafetensorsDir } from '../formats/safetensors.js';
import { buildWeights } from '../formats/weights.js';
import type { Backend } from '../numerics/backend.js';
import { refBackend } from '../numerics/ref/index.js';
import { modelFingerprint } from '../model/fingerprint.js';
import type { Model } from '../model/nemotron-h.js';
import { loadTokenizerDir, tokenizerFromGguf, type TextTokenizer } from '../text/tokenizer.js';

export interface LoadedModel {
  readonly model: Model;
  readonly format: 'hf' | 'gguf';
  readonly path: string;
  /** Loads (once) and returns the tokenizer; throws a clear error when the checkpoint has none. */
  tokenizer(): TextTokenizer;
}

export interface LoadOptions {
  readonly backend?: Backend;
}

function generationEos(dir: string): number[] {
  const p = join(dir, 'generation_config.json');
  if (!existsSync(p)) return [];
  try {
    const g = JSON.parse(readFileSync(p, 'utf8')) as { eos_token_id?: number | number[] };
    const e = g.eos_token_id;
    return e === undefined ? [] : Array.isArray(e) ? e : [e];
  } catch {
    throw new TandemError('BAD_CONFIG', `${p} is not valid JSON`);
  }
}

function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

function loadHf(dir: string, backend: Backend): LoadedModel {
  const config: ModelConfig = readModelConfig(dir);
  const weights = buildWeights(config, loadSafetensorsDir(dir), 'hf', dir);
  const model: Model = { config, weights, backend, fingerprint: modelFingerprint(config, weights) };
  const eos = [...config.eosIds, ...generationEos(dir)];
  return { model, format: 'hf', path: dir, tokenizer: once(() => loadTokenizerDir(dir, eos)) };
}

function ggufTokenizer(f: GgufFile, path: string): TextTokenizer {
  const model = ggufStringOr(f, 'tokenizer.ggml.model', undefined);
  if (model === undefined) throw new TandemError('BAD_TOKENIZER', `${path} has no tokenizer metadata (tokenizer.ggml.*); re-export it with its tokenizer or use token ids`);
  const opt = (key: string): number | undefined => (f.metadata.has(key) ? ggufNumberOr(f, key, 0) : undefined);
  return tokenizerFromGguf({
    model,
    pre: ggufStringOr(f, 'tokenizer.ggml.pre', undefined),
    tokens: ggufArray(f, 'tokenizer.ggml.tokens').map(String),
    tokenTypes: f.metadata.has('tokenizer.ggml.token_type') ? ggufArray(f, 'tokenizer.ggml.token_type').map(Number) : undefined,
    merges: f.metadata.has('tokenizer.ggml.merges') ? ggufArray(f, 'tokenizer.ggml.merges').map(String) : [],
    bosId: opt('tokenizer.ggml.bos_token_id'),
    eosId: opt('tokenizer.ggml.eos_token_id'),
    padId: opt('tokenizer.ggml.padding_token_id'),
    unkId: opt('tokenizer.ggml.unknown_token_id'),
    addBosToken: f.metadata.has('tokenizer.ggml.add_bos_token') ? ggufBool(f, 'tokenizer.ggml.add_bos_token') : undefined,
    chatTemplate: ggufStringOr(f, 'tokenizer.chat_template', undefined),
  });
}

function loadGguf(path: string, backend: Backend): LoadedModel {
  const f = readGgufFile(path);
  const config = configFromGguf(f, path);
  const weights = buildWeights(config, f.tensors, 'gguf', path);
  const model: Model = { config, weights, backend, fingerprint: modelFingerprint(config, weights) };
  return { model, format: 'gguf', path, tokenizer: once(() => ggufTokenizer(f, path)) };
}

export function loadModel(path: string, opts: LoadOptions = {}): LoadedModel {
  const backend = opts.backend ?? refBackend;
  if (!existsSync(path)) throw new TandemError('NOT_FOUND', `model path ${path} does not exist (give an HF model directory or a .gguf file)`);
  if (statSync(path).isDirectory()) return loadHf(path, backend);
  return loadGguf(path, backend);
}
