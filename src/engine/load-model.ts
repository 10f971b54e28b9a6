/**
 * Open a model from a path: an HF directory (config.json + safetensors + tokenizer files) or a .gguf file.
 * The tokenizer is loaded lazily: token-id workflows (`tandem logprobs`) need none.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TandemError } from '../errors.js';
import { parsePythonJson, readModelConfig, type ModelConfig } from '../formats/config.js';
import { readQuantScheme } from '../formats/quant-config.js';
import { configFromGguf } from '../formats/gguf-config.js';
import { openGgufLazy, readGgufFile, type GgufFile } from '../formats/gguf.js';
import { ggufTokenizerMeta } from '../text/gguf-kv.js';
import { loadSafetensorsDir } from '../formats/safetensors.js';
import { buildWeights, mapWeights, type ModelWeights } from '../formats/weights.js';
import type { Backend } from '../numerics/backend.js';
import { matrixBytes, type Matrix } from '../numerics/tensor.js';
import { refBackend } from '../numerics/ref/index.js';
import { fingerprintPieces, modelFingerprint } from '../model/fingerprint.js';
import type { Model } from '../model/nemotron-h.js';
import type { StateFormat } from '../model/state.js';
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
  /**
   * Emulate the activation quantization of the real kernels: W8A8 FP8 / W4A4 NVFP4 for ModelOpt checkpoints, ggml's
   * vec_dot types (Q8_0, Q8_K, F16, BF16) for GGUF weights, as llama.cpp does. Default: on for GGUF (the same
   * arithmetic as llama.cpp on the same file, and the fast int8 kernels of the wasm backend), off for HF checkpoints
   * (weight-only, like the reference PyTorch forward).
   */
  readonly emulateActivations?: boolean;
  /** KV cache storage for attention layers (default f32). */
  readonly kvCache?: StateFormat['kv'];
  /** Mamba SSM state storage (default f32). */
  readonly ssmState?: StateFormat['ssm'];
}

function stateFormat(o: LoadOptions): StateFormat {
  return { kv: o.kvCache ?? 'f32', ssm: o.ssmState ?? 'f32' };
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

/**
 * Hand the weights to the backend (after the fingerprint, which reads their bytes): a backend with `prepareMatrix`
 * repacks each matrix into its own memory, and the f32 vectors are copied out, so nothing references the file's
 * bytes any more and they can be collected (steady memory ≈ the packed weights, not file + packed).
 */
function prepared(weights: ModelWeights, backend: Backend): ModelWeights {
  const prep = backend.prepareMatrix?.bind(backend);
  return prep ? mapWeights(weights, prep, (v) => v.slice()) : weights;
}

function loadHf(dir: string, backend: Backend, opts: LoadOptions): LoadedModel {
  const config: ModelConfig = readModelConfig(dir);
  const scheme = readQuantScheme(dir, parsePythonJson(readFileSync(join(dir, 'config.json'), 'utf8')));
  const weights = buildWeights(config, loadSafetensorsDir(dir), 'hf', dir, { scheme, emulateActivations: opts.emulateActivations ?? false });
  const fingerprint = modelFingerprint(config, weights);
  const model: Model = { config, weights: prepared(weights, backend), backend, fingerprint, stateFormat: stateFormat(opts) };
  const eos = [...config.eosIds, ...generationEos(dir)];
  return { model, format: 'hf', path: dir, tokenizer: once(() => loadTokenizerDir(dir, eos)) };
}

/** Read buffers the lazy loader lets pile up before it asks for a garbage collection. */
const RECLAIM_BYTES = 16 * 2 ** 20;

/**
 * Returns `count(bytes)`, which runs a full garbage collection each time `every` bytes of dropped read buffers have
 * piled up. Each lazily read tensor is garbage once its matrix is in the backend's memory, but V8 collects large
 * ArrayBuffers late: on the generated 250M hybrid a GC every 16 MiB lowers the peak RSS of `tandem run` from 312 to
 * 273 MB (Q4_0, 132 MiB packed) and from 464 to 391 MB (Q8_0, 250 MiB packed). `gc` is taken from V8 (expose-gc) without a command-line flag.
 */
function reclaimer(every: number): (bytes: number) => void {
  let gc: (() => void) | undefined;
  try {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  } catch {
    gc = undefined;
  }
  let pending = 0;
  return (bytes) => {
    pending += bytes;
    if (pending < every || !gc) return;
    pending = 0;
    gc();
  };
}

/**
 * GGUF: with a backend that takes matrices into its own memory (`prepareMatrix`), the file is opened lazily and each
 * matrix is read, fingerprinted (its sample pieces kept) and handed over as it is resolved, so at most one tensor's
 * file bytes are alive at a time (peak ≈ packed weights, not file + packed). Otherwise the file is read whole and the
 * matrices are views into it.
 */
function loadGguf(path: string, backend: Backend, opts: LoadOptions): LoadedModel {
  const emulateActivations = opts.emulateActivations ?? true;
  let weights: ModelWeights;
  let fingerprint: string;
  let head: GgufFile;
  let config: ModelConfig;
  if (backend.prepareMatrix) {
    const lazy = openGgufLazy(path);
    try {
      config = configFromGguf(lazy.file, path);
      const kept = new Map<Matrix, readonly Uint8Array[]>();
      const reclaim = reclaimer(RECLAIM_BYTES);
      const prepare = (m: Matrix): Matrix => {
        const pieces = fingerprintPieces(m.data).map((p) => p.slice());
        const moved = backend.prepareMatrix!(m);
        kept.set(moved, pieces);
        reclaim(matrixBytes(m));
        return moved;
      };
      weights = mapWeights(buildWeights(config, lazy.file.tensors, 'gguf', path, { scheme: { kind: 'none' }, emulateActivations, prepare }), (m) => m, (v) => v.slice());
      fingerprint = modelFingerprint(config, weights, (m) => kept.get(m));
      head = lazy.file;
    } finally {
      lazy.close();
    }
  } else {
    const f = readGgufFile(path);
    config = configFromGguf(f, path);
    weights = buildWeights(config, f.tensors, 'gguf', path, { scheme: { kind: 'none' }, emulateActivations });
    fingerprint = modelFingerprint(config, weights);
    head = f;
  }
  const model: Model = { config, weights, backend, fingerprint, stateFormat: stateFormat(opts) };
  const meta: GgufFile = { ...head, tensors: new Map(), tensorOrder: [] }; // the tokenizer needs metadata only; keep no tensor bytes alive
  return { model, format: 'gguf', path, tokenizer: once(() => tokenizerFromGguf(ggufTokenizerMeta(meta, path))) };
}

export function loadModel(path: string, opts: LoadOptions = {}): LoadedModel {
  const backend = opts.backend ?? refBackend;
  if (!existsSync(path)) throw new TandemError('NOT_FOUND', `model path ${path} does not exist (give an HF model directory or a .gguf file)`);
  if (statSync(path).isDirectory()) return loadHf(path, backend, opts);
  return loadGguf(path, backend, opts);
}
