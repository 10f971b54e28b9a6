/**
 * Quantization configs of HF checkpoints (spec precision.md §4.1–4.2): NVIDIA TensorRT Model Optimizer (ModelOpt)
 * `hf_quant_config.json` / `config.json` `quantization_config` with `quant_method: "modelopt"`, and
 * compressed-tensors `nvfp4-pack-quantized`. Anything else is refused by name rather than loaded wrong.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TandemError } from '../errors.js';

export type QuantScheme =
  | { readonly kind: 'none' }
  | { readonly kind: 'modelopt'; readonly algo: 'FP8' | 'NVFP4'; readonly groupSize: number; readonly exclude: readonly string[]; readonly kvCache: string | null }
  | { readonly kind: 'compressed-tensors'; readonly format: 'nvfp4-pack-quantized'; readonly groupSize: number; readonly ignore: readonly string[] };

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function unsupported(where: string, what: string): TandemError {
  return new TandemError('UNSUPPORTED', `${where}: ${what}; Tandem loads ModelOpt FP8 / NVFP4 and compressed-tensors NVFP4 checkpoints`);
}

function modelopt(where: string, q: Json): QuantScheme {
  const algo = q.quant_algo;
  if (algo !== 'FP8' && algo !== 'NVFP4') throw unsupported(where, `quant_algo "${String(algo)}" is not supported`);
  const groupSize = typeof q.group_size === 'number' ? q.group_size : 16;
  if (algo === 'NVFP4' && groupSize !== 16) {
    throw new TandemError('UNSUPPORTED', `${where}: NVFP4 group_size is ${groupSize}; NVFP4 blocks are 16 elements`);
  }
  const kv = q.kv_cache_quant_algo;
  return { kind: 'modelopt', algo, groupSize, exclude: strings(q.exclude_modules ?? q.ignore), kvCache: typeof kv === 'string' ? kv : null };
}

function compressedTensors(where: string, q: Json): QuantScheme {
  const format = q.format;
  if (format !== 'nvfp4-pack-quantized') throw unsupported(where, `compressed-tensors format "${String(format)}" is not supported`);
  let groupSize = 16;
  if (isObj(q.config_groups)) {
    for (const g of Object.values(q.config_groups)) {
      const w = isObj(g) && isObj(g.weights) ? g.weights : undefined;
      if (w && typeof w.group_size === 'number') groupSize = w.group_size;
    }
  }
  if (groupSize !== 16) throw new TandemError('UNSUPPORTED', `${where}: NVFP4 group_size is ${groupSize}; NVFP4 blocks are 16 elements`);
  return { kind: 'compressed-tensors', format, groupSize, ignore: strings(q.ignore) };
}

/** The scheme from `hf_quant_config.json` (preferred, as ModelOpt writes it) or `config.json` `quantization_config`. */
export function readQuantScheme(dir: string, configJson: unknown): QuantScheme {
  const hfq = join(dir, 'hf_quant_config.json');
  if (existsSync(hfq)) {
    let j: unknown;
    try {
      j = JSON.parse(readFileSync(hfq, 'utf8'));
    } catch (e) {
      throw new TandemError('BAD_CONFIG', `${hfq} is not valid JSON (${(e as Error).message})`);
    }
    if (!isObj(j) || !isObj(j.quantization)) throw new TandemError('BAD_CONFIG', `${hfq}: expected {"quantization": {"quant_algo": …}}`);
    return modelopt(hfq, j.quantization);
  }
  const q = isObj(configJson) ? configJson.quantization_config : undefined;
  if (q === undefined || q === null) return { kind: 'none' };
  const where = `${join(dir, 'config.json')} quantization_config`;
  if (!isObj(q)) throw new TandemError('BAD_CONFIG', `${where} must be an object`);
  if (q.quant_method === 'modelopt') return modelopt(where, q);
  if (q.quant_method === 'compressed-tensors') return compressedTensors(where, q);
  throw unsupported(where, `quant_method "${String(q.quant_method)}" is not supported`);
}

/** Whether a module (e.g. "backbone.layers.3.mixer.in_proj") is excluded from quantization by the scheme's patterns. */
export function isExcluded(scheme: QuantScheme, module: string): boolean {
  const patterns = scheme.kind === 'modelopt' ? scheme.exclude : scheme.kind === 'compressed-tensors' ? scheme.ignore : [];
  return patterns.some((p) => globMatch(p, module));
}

/** fnmatch-style `*` / `?` globs (ModelOpt) and `re:` regexes (compressed-tensors). */
export function globMatch(pattern: string, name: string): boolean {
  if (pattern.startsWith('re:')) return new RegExp(pattern.slice(3)).test(name);
  const re = '^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$';
  return new RegExp(re).test(name);
}
