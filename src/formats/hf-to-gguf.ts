/**
 * HF safetensors tensors → GGUF tensors for llama.cpp (`nemotron_h` / `nemotron_h_moe`), applying the converter
 * transforms of spec nemotron-h.md §6.4 through the one name table: A_log → A = −exp(A_log) (f32), conv weight
 * [Cd,1,K] → [Cd,K], gated-norm weight [Di] → [G, Di/G], per-expert matrices stacked into [E, out, in].
 * Data bytes are reused (no copy) wherever only the shape changes.
 */
import { TandemError } from '../errors.js';
import { toFloat32 } from '../numerics/dtypes/index.js';
import type { ModelConfig } from './config.js';
import type { GgufTensorToWrite } from './gguf.js';
import type { RawTensor, TensorMap } from './raw-tensor.js';
import { HF_ALIASES, modelSpecs, type TensorSpec } from './tensor-names.js';

function get(tensors: TensorMap, spec: TensorSpec): RawTensor {
  const alias = Object.keys(HF_ALIASES).find((k) => HF_ALIASES[k] === spec.name);
  const t = tensors.get(spec.name) ?? (alias ? tensors.get(alias) : undefined);
  if (!t) throw new TandemError('TENSOR_MISMATCH', `cannot convert: tensor ${spec.name} is missing`);
  return t;
}

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Tensors in GGUF naming and layout, in llama.cpp's order (token_embd, blocks, output_norm, output). */
export function hfToGgufTensors(cfg: ModelConfig, tensors: TensorMap): GgufTensorToWrite[] {
  const hf = modelSpecs(cfg, 'hf');
  const gg = modelSpecs(cfg, 'gguf');
  const out: GgufTensorToWrite[] = [];
  const same = (h: TensorSpec, g: TensorSpec): void => {
    const t = get(tensors, h);
    out.push({ name: g.name, dtype: t.dtype, shape: g.shape, data: t.data });
  };
  same(hf.embed, gg.embed);
  cfg.layers.forEach((_kind, i) => {
    const hl = hf.layers[i]!;
    const gl = gg.layers[i]!;
    for (const [slot, g] of Object.entries(gl)) {
      if (g.role === 'a') {
        const alog = get(tensors, hl[slot]!);
        const v = toFloat32(alog.dtype, alog.data, hl[slot]!.shape[0]!);
        const a = new Float32Array(v.length);
        for (let j = 0; j < v.length; j++) a[j] = -Math.exp(v[j]!);
        out.push({ name: g.name, dtype: 'f32', shape: g.shape, data: f32Bytes(a) });
      } else if (g.role === 'experts') {
        const prefix = slot === 'upExperts' ? 'up' : 'down';
        const parts = Array.from({ length: cfg.moe!.numExperts }, (_, e) => get(tensors, hl[`${prefix}${e}`]!));
        const data = new Uint8Array(parts.reduce((n, p) => n + p.data.length, 0));
        let off = 0;
        for (const p of parts) {
          if (p.dtype !== parts[0]!.dtype) throw new TandemError('UNSUPPORTED', `cannot stack experts of mixed dtypes (${p.name})`);
          data.set(p.data, off);
          off += p.data.length;
        }
        out.push({ name: g.name, dtype: parts[0]!.dtype, shape: g.shape, data });
      } else {
        same(hl[slot]!, g);
      }
    }
  });
  same(hf.normF, gg.normF);
  if (hf.lmHead && gg.lmHead) same(hf.lmHead, gg.lmHead);
  return out;
}
