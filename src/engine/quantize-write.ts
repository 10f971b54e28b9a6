/**
 * Writers for `tandem quantize`: an HF directory in ModelOpt layout (fp8 / nvfp4) or a GGUF file (ggml types), from a
 * loaded model. Both walk `weightEntries`, so tensor names come from the one name table.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TandemError } from '../errors.js';
import { ggufMetadataFromConfig } from '../formats/gguf-config.js';
import { readGgufFile, writeGguf, type GgufTensorToWrite, type GgufValue } from '../formats/gguf.js';
import { writeSafetensors } from '../formats/safetensors.js';
import { weightEntries, type WeightEntry } from '../formats/weight-entries.js';
import type { DType, Matrix } from '../numerics/tensor.js';
import { ggufTokenizerKvs } from '../text/gguf-kv.js';
import { tokenizerToGgufMeta } from '../text/tokenizer.js';
import type { LoadedModel } from './load-model.js';
import {
  DEFAULT_KEEP, GGUF_DTYPE, fitsFormat, ggufMatrix, isKept, matrixToF32, modelOptTensors,
  type OutTensor, type QuantFormat, type QuantizeReport,
} from './quantize.js';

export interface QuantizeOptions {
  readonly format: QuantFormat;
  readonly out: string;
  /** HF module globs kept in source precision (replaces the defaults when given). */
  readonly keep?: readonly string[];
  /** Per-matrix input amax from a calibration run (HF formats). */
  readonly inputAmax?: ReadonlyMap<Matrix, number>;
  readonly onProgress?: (done: number, total: number, name: string) => void;
}

const FLOATS: readonly string[] = ['f32', 'f16', 'bf16'];
const f32Bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A kept matrix in its source float type (or f32 when the source was itself quantized). */
function keptMatrix(name: string, shape: readonly number[], m: Matrix): OutTensor {
  if (FLOATS.includes(m.dtype)) return { name, dtype: m.dtype as DType, shape, data: m.data };
  return { name, dtype: 'f32', shape, data: f32Bytes(matrixToF32(m)) };
}

function vectorTensor(e: WeightEntry, v: Float32Array): OutTensor {
  if (e.spec.role !== 'a_log') return { name: e.spec.name, dtype: 'f32', shape: e.spec.shape, data: f32Bytes(v) };
  return { name: e.spec.name, dtype: 'f32', shape: e.spec.shape, data: f32Bytes(v.map((a) => Math.log(-a))) }; // A_log = log(−A)
}

function hfTensors(loaded: LoadedModel, o: QuantizeOptions, keep: readonly string[], report: QuantizeReport): OutTensor[] {
  const { config, weights } = loaded.model;
  const fmt = o.format as 'fp8' | 'nvfp4';
  const entries = weightEntries(config, weights, 'hf');
  const out: OutTensor[] = [];
  entries.forEach((e, i) => {
    o.onProgress?.(i, entries.length, e.spec.name);
    if (e.value instanceof Float32Array) return void out.push(vectorTensor(e, e.value));
    const m = e.value as Matrix;
    if (isKept(e.module, keep) || !fitsFormat(fmt, m.cols)) {
      if (!isKept(e.module, keep)) report.fallbacks.push(`${e.spec.name} kept (${m.cols} columns are not whole ${fmt} blocks)`);
      report.kept.push(e.module);
      return void out.push(keptMatrix(e.spec.name, e.spec.shape, m));
    }
    report.quantized.push(e.module);
    out.push(...modelOptTensors(e.spec.name, m, fmt, o.inputAmax?.get(m) ?? 0));
  });
  o.onProgress?.(entries.length, entries.length, 'done');
  return out;
}

function quantConfigs(format: 'fp8' | 'nvfp4', kept: readonly string[]): { hfq: object; qc: object } {
  const algo = format === 'fp8' ? 'FP8' : 'NVFP4';
  const producer = { name: 'tandem', version: '0.1.0' };
  const hfq = { producer, quantization: { quant_algo: algo, kv_cache_quant_algo: null, group_size: format === 'nvfp4' ? 16 : undefined, exclude_modules: kept } };
  const bits = format === 'fp8' ? 8 : 4;
  const group = format === 'nvfp4' ? { group_size: 16 } : {};
  const side = { dynamic: false, num_bits: bits, type: 'float', ...group };
  const qc = { quant_method: 'modelopt', quant_algo: algo, producer, ignore: kept, config_groups: { group_0: { weights: side, input_activations: side, targets: ['Linear'] } } };
  return { hfq, qc };
}

/** Write an HF directory in ModelOpt layout next to a source HF directory's config and tokenizer files. */
export function writeModelOptDir(loaded: LoadedModel, o: QuantizeOptions): QuantizeReport {
  if (loaded.format !== 'hf') throw new TandemError('BAD_ARGUMENT', `--format ${o.format} writes an HF directory and needs an HF source directory, not ${loaded.path}`);
  const report: QuantizeReport = { quantized: [], kept: [], fallbacks: [] };
  const tensors = hfTensors(loaded, o, o.keep ?? DEFAULT_KEEP, report);
  const tmp = `${o.out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const cfgJson = JSON.parse(readFileSync(join(loaded.path, 'config.json'), 'utf8')) as Record<string, unknown>;
  const { hfq, qc } = quantConfigs(o.format as 'fp8' | 'nvfp4', [...new Set(report.kept)]);
  writeFileSync(join(tmp, 'config.json'), JSON.stringify({ ...cfgJson, quantization_config: qc }, null, 2) + '\n');
  writeFileSync(join(tmp, 'hf_quant_config.json'), JSON.stringify(hfq, null, 2) + '\n');
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json']) {
    if (existsSync(join(loaded.path, f))) copyFileSync(join(loaded.path, f), join(tmp, f));
  }
  writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt', producer: `tandem quantize --format ${o.format}` });
  rmSync(o.out, { recursive: true, force: true });
  renameSync(tmp, o.out);
  return report;
}

function ggufEntry(e: WeightEntry, target: DType, keep: readonly string[], report: QuantizeReport): GgufTensorToWrite {
  if (e.value instanceof Float32Array) return { name: e.spec.name, dtype: 'f32', shape: e.spec.shape, data: f32Bytes(e.value) };
  const mats: readonly Matrix[] = Array.isArray(e.value) ? e.value : [e.value as Matrix];
  if (isKept(e.module, keep)) {
    report.kept.push(e.module);
    const parts = mats.map((m) => keptMatrix(e.spec.name, e.spec.shape, m));
    const same = parts.every((p) => p.dtype === parts[0]!.dtype);
    const data = concat(same ? parts.map((p) => p.data) : mats.map((m) => f32Bytes(matrixToF32(m))));
    return { name: e.spec.name, dtype: same ? parts[0]!.dtype : 'f32', shape: e.spec.shape, data };
  }
  report.quantized.push(e.module);
  const enc = mats.map((m) => ggufMatrix(m, target, report.fallbacks, e.spec.name));
  return { name: e.spec.name, dtype: enc[0]!.dtype, shape: e.spec.shape, data: concat(enc.map((x) => x.data)) };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function ggufMetadata(loaded: LoadedModel, target: DType): Array<[string, GgufValue]> {
  const cfg = loaded.model.config;
  if (loaded.format === 'gguf') {
    const src = readGgufFile(loaded.path);
    const fresh = new Map(ggufMetadataFromConfig(cfg, '', target));
    return [...src.metadata.entries()].map(([k, v]) => (k === 'general.file_type' ? [k, fresh.get(k)!] : [k, v]));
  }
  const tok = JSON.parse(readFileSync(join(loaded.path, 'tokenizer.json'), 'utf8')) as object;
  const tcPath = join(loaded.path, 'tokenizer_config.json');
  const tc = existsSync(tcPath) ? (JSON.parse(readFileSync(tcPath, 'utf8')) as object) : {};
  return [...ggufMetadataFromConfig(cfg, `tandem-quantized-${target}`, target), ...ggufTokenizerKvs(tokenizerToGgufMeta(tok, tc))];
}

/** Write a GGUF file with matrices in a ggml type. */
export function writeQuantizedGguf(loaded: LoadedModel, o: QuantizeOptions): QuantizeReport {
  if (!o.out.endsWith('.gguf')) throw new TandemError('BAD_ARGUMENT', `--format ${o.format} writes a GGUF file: give --out a path ending in .gguf (got ${o.out})`);
  const target = GGUF_DTYPE[o.format as keyof typeof GGUF_DTYPE];
  const report: QuantizeReport = { quantized: [], kept: [], fallbacks: [] };
  const keep = o.keep ?? DEFAULT_KEEP;
  const entries = weightEntries(loaded.model.config, loaded.model.weights, 'gguf');
  const tensors = entries.map((e, i) => {
    o.onProgress?.(i, entries.length, e.spec.name);
    return ggufEntry(e, target, keep, report);
  });
  o.onProgress?.(entries.length, entries.length, 'done');
  mkdirSync(dirname(o.out), { recursive: true });
  writeGguf(o.out, ggufMetadata(loaded, target), tensors);
  return report;
}

