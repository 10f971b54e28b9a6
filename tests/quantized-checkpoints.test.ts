/**
 * Quantized checkpoints (issue #3): ModelOpt FP8 / NVFP4 directories written by `tandem quantize` load back and compute
 * exactly like the dequantized reference weights; a compressed-tensors NVFP4 directory (reciprocal global scales,
 * `weight_packed`) gives the same result; broken quantized checkpoints fail with clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TandemError } from '../src/errors.js';
import { loadModel } from '../src/engine/load-model.js';
import { sequenceLogprobs } from '../src/engine/logprobs.js';
import { writeModelOptDir } from '../src/engine/quantize-write.js';
import { readSafetensorsFile, writeSafetensors } from '../src/formats/safetensors.js';
import { e4m3ToF32 } from '../src/numerics/dtypes/fp8.js';
import { e2m1ToF32 } from '../src/numerics/dtypes/fp4-e2m1.js';
import { goldenDir, goldenTokens } from '../src/testing/golden.js';
import { TOLERANCE, maxAbsDiff } from '../src/testing/tolerances.js';

const tmp = mkdtempSync(join(tmpdir(), 'tandem-quant-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const source = (): ReturnType<typeof loadModel> => loadModel(join(goldenDir(), 'moe'));

function quantized(format: 'fp8' | 'nvfp4'): string {
  const out = join(tmp, format);
  writeModelOptDir(source(), { format, out });
  return out;
}

/**
 * The "dequantized reference", built straight from the checkpoint file with the scalar codecs (not through Tandem's
 * Matrix views): W = e4m3(code)·weight_scale (FP8) or e2m1(code)·e4m3(weight_scale[r, c/16])·weight_scale_2 (NVFP4,
 * even element in the low nibble), written as an F32 checkpoint and loaded like any other.
 */
function dequantizedDir(dir: string, name: string): string {
  const out = join(tmp, name);
  rmSync(out, { recursive: true, force: true });
  cpSync(dir, out, { recursive: true });
  rmSync(join(out, 'hf_quant_config.json'));
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  delete cfg.quantization_config;
  writeFileSync(join(out, 'config.json'), JSON.stringify(cfg));
  const { tensors } = readSafetensorsFile(join(dir, 'model.safetensors'));
  const scalar = (n: string): number => {
    const t = tensors.get(n)!;
    return new DataView(t.data.buffer, t.data.byteOffset, 4).getFloat32(0, true);
  };
  const kept = [...tensors.values()].filter((t) => !/\.(weight_scale|weight_scale_2|input_scale)$/.test(t.name) && t.dtype !== 'u8' && t.dtype !== 'f8_e4m3');
  const deq = [...tensors.values()].filter((t) => t.dtype === 'u8' || t.dtype === 'f8_e4m3' && t.name.endsWith('.weight')).map((t) => {
    const p = t.name.replace(/\.weight$/, '');
    const rows = t.shape[0]!;
    const cols = t.dtype === 'u8' ? t.shape[1]! * 2 : t.shape[1]!;
    const w = new Float32Array(rows * cols);
    if (t.dtype === 'f8_e4m3') {
      const s = scalar(`${p}.weight_scale`);
      for (let i = 0; i < w.length; i++) w[i] = e4m3ToF32(t.data[i]!) * s;
    } else {
      const bs = tensors.get(`${p}.weight_scale`)!.data;
      const s2 = scalar(`${p}.weight_scale_2`);
      for (let i = 0; i < w.length; i++) {
        const r = Math.floor(i / cols);
        const c = i % cols;
        const byte = t.data[r * (cols / 2) + (c >> 1)]!;
        w[i] = e2m1ToF32(c % 2 === 0 ? byte & 15 : byte >> 4) * e4m3ToF32(bs[r * (cols / 16) + (c >> 4)]!) * s2;
      }
    }
    return { name: t.name, dtype: 'f32' as const, shape: [rows, cols], data: new Uint8Array(w.buffer) };
  });
  writeSafetensors(join(out, 'model.safetensors'), [...kept, ...deq]);
  return out;
}

function worst(a: Float64Array[], b: Float64Array[]): number {
  return Math.max(...a.map((r, i) => maxAbsDiff(r, b[i]!).maxAbs));
}

for (const format of ['fp8', 'nvfp4'] as const) {
  test(`ModelOpt ${format} written by quantize loads packed and matches the dequantized reference forward`, () => {
    const dir = quantized(format);
    const { model } = loadModel(dir);
    const first = model.weights.layers[0]!;
    const inProj = first.kind === 'mamba2' ? first.inProj : undefined;
    assert.equal(inProj?.dtype, format === 'fp8' ? 'f8_e4m3' : 'nvfp4', 'weights stay in their stored format');
    assert.equal(model.weights.embed.dtype, 'f32', 'embeddings are kept');
    const hfq = JSON.parse(readFileSync(join(dir, 'hf_quant_config.json'), 'utf8')) as { quantization: { quant_algo: string; exclude_modules: string[] } };
    assert.equal(hfq.quantization.quant_algo, format.toUpperCase());
    assert.ok(hfq.quantization.exclude_modules.includes('lm_head'));
    const toks = goldenTokens(model.config.vocabSize, 24);
    const reference = loadModel(dequantizedDir(dir, `${format}-dequantized`)).model;
    const d = worst(sequenceLogprobs(model, toks), sequenceLogprobs(reference, toks));
    console.log(`${format}: max |Δ logprob| packed vs dequantized = ${d.toExponential(2)}`);
    assert.ok(d <= TOLERANCE.goldenLogprob);
  });
}

test('a compressed-tensors NVFP4 directory (weight_packed, reciprocal global scales) loads to the same model', () => {
  const mo = quantized('nvfp4');
  const ct = join(tmp, 'ct');
  cpSync(mo, ct, { recursive: true });
  rmSync(join(ct, 'hf_quant_config.json'));
  const { tensors } = readSafetensorsFile(join(mo, 'model.safetensors'));
  const f32 = (v: number): Uint8Array => new Uint8Array(Float32Array.of(v).buffer);
  const out = [...tensors.values()].map((t) => {
    const scalar = (): number => new DataView(t.data.buffer, t.data.byteOffset, 4).getFloat32(0, true);
    if (t.name.endsWith('.weight_scale_2')) return { ...t, name: t.name.replace('weight_scale_2', 'weight_global_scale'), data: f32(1 / scalar()) };
    if (t.name.endsWith('.input_scale')) return { ...t, name: t.name.replace('input_scale', 'input_global_scale'), data: f32(1 / scalar()) };
    if (t.dtype === 'u8' && t.name.endsWith('.weight')) return { ...t, name: t.name.replace(/\.weight$/, '.weight_packed') };
    return t;
  });
  writeSafetensors(join(ct, 'model.safetensors'), out);
  const cfg = JSON.parse(readFileSync(join(ct, 'config.json'), 'utf8')) as Record<string, unknown>;
  const group = { num_bits: 4, type: 'float', group_size: 16, strategy: 'tensor_group', symmetric: true, dynamic: false };
  cfg.quantization_config = {
    quant_method: 'compressed-tensors', format: 'nvfp4-pack-quantized', ignore: ['lm_head', 're:.*mixer\\.gate$'],
    config_groups: { group_0: { targets: ['Linear'], weights: group, input_activations: { ...group, dynamic: 'local' } } },
  };
  writeFileSync(join(ct, 'config.json'), JSON.stringify(cfg));
  const a = loadModel(mo).model;
  const b = loadModel(ct).model;
  const toks = goldenTokens(a.config.vocabSize, 16);
  const d = worst(sequenceLogprobs(a, toks), sequenceLogprobs(b, toks));
  console.log(`compressed-tensors vs ModelOpt NVFP4: max |Δ logprob| = ${d.toExponential(2)}`);
  assert.ok(d <= TOLERANCE.goldenLogprob);
});

test('activation emulation (W4A4 / W8A8) is applied when asked for', () => {
  for (const format of ['fp8', 'nvfp4'] as const) {
    const dir = join(tmp, format);
    const w = loadModel(dir).model;
    const a = loadModel(dir, { emulateActivations: true }).model;
    const toks = goldenTokens(w.config.vocabSize, 12);
    const d = worst(sequenceLogprobs(w, toks), sequenceLogprobs(a, toks));
    console.log(`${format}: weight-only vs emulated activations max |Δ logprob| = ${d.toExponential(2)}`);
    assert.ok(d > 0, 'emulation must change the numbers');
  }
});

function expectLoadError(dir: string, code: string, re: RegExp): void {
  assert.throws(() => loadModel(dir), (e: unknown) => {
    assert.ok(e instanceof TandemError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

test('bad quantized checkpoints: missing / mis-shaped scales, unknown quant config, odd block sizes', () => {
  const mo = quantized('nvfp4');
  const variant = (name: string, edit: (dir: string) => void): string => {
    const d = join(tmp, name);
    rmSync(d, { recursive: true, force: true });
    cpSync(mo, d, { recursive: true });
    edit(d);
    return d;
  };
  const rewrite = (dir: string, f: (ts: ReturnType<typeof readSafetensorsFile>['tensors']) => void): void => {
    const { tensors } = readSafetensorsFile(join(dir, 'model.safetensors'));
    f(tensors);
    writeSafetensors(join(dir, 'model.safetensors'), [...tensors.values()]);
  };
  const scale = 'backbone.layers.0.mixer.in_proj.weight_scale';
  expectLoadError(variant('no-scale', (d) => rewrite(d, (ts) => ts.delete(scale))), 'TENSOR_MISMATCH', /missing: .*in_proj\.weight_scale/);
  expectLoadError(variant('no-scale2', (d) => rewrite(d, (ts) => ts.delete(scale + '_2'))), 'TENSOR_MISMATCH', /in_proj\.weight_scale_2/);
  expectLoadError(variant('bad-scale', (d) => rewrite(d, (ts) => {
    const t = ts.get(scale)!;
    ts.set(scale, { ...t, shape: [t.shape[1]!, t.shape[0]!] });
  })), 'TENSOR_MISMATCH', /mis-shaped: .*in_proj\.weight_scale is \[6, 328\], expected \[328, 6\]/);
  const hfq = (d: string, q: object): void => writeFileSync(join(d, 'hf_quant_config.json'), JSON.stringify({ quantization: q }));
  expectLoadError(variant('awq', (d) => hfq(d, { quant_algo: 'W4A8_AWQ' })), 'UNSUPPORTED', /quant_algo "W4A8_AWQ" is not supported/);
  expectLoadError(variant('group32', (d) => hfq(d, { quant_algo: 'NVFP4', group_size: 32 })), 'UNSUPPORTED', /group_size is 32; NVFP4 blocks are 16/);
  expectLoadError(variant('gptq', (d) => {
    rmSync(join(d, 'hf_quant_config.json'));
    const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, quantization_config: { quant_method: 'gptq', bits: 4 } }));
  }), 'UNSUPPORTED', /quant_method "gptq" is not supported/);
});
