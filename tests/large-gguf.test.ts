/**
 * Opt-in (TANDEM_LARGE_TESTS=1; needs ~7 GiB of disk and ~8 GiB of RAM, a few minutes): a synthetic nemotron-h-8b
 * (`M-M*-`, F32, 6.3 GiB, past Node's 4 GiB buffer limit) is written with modest memory, loaded through the
 * per-tensor path of `readGgufFile`, and runs. Tensors stored beyond byte 2^32 are checked against the same tensors
 * of a small synthetic file (same seed, same names, same shapes draw the same values). TANDEM_LARGE_DIR picks the
 * directory (default: the OS temp directory); the file is deleted afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/engine/load-model.js';
import { readGgufFile } from '../src/formats/gguf.js';
import { toFloat32 } from '../src/numerics/dtypes/index.js';
import { forward, newState } from '../src/model/nemotron-h.js';
import { planSynthetic, writeSynthetic } from '../src/testing/synthetic-model.js';

const skip = process.env.TANDEM_LARGE_TESTS === '1' ? false : 'opt-in: set TANDEM_LARGE_TESTS=1 (writes a 6.3 GiB file)';
const GiB = 2 ** 30;

test('a > 4 GiB synthetic GGUF is written with modest memory, loads tensor by tensor, and runs', { skip, timeout: 30 * 60_000 }, () => {
  const dir = mkdtempSync(join(process.env.TANDEM_LARGE_DIR ?? tmpdir(), 'tandem-large-'));
  try {
    const big = join(dir, 'h8b-f32.gguf');
    const m = planSynthetic('nemotron-h-8b', 'f32', 1);
    let t = performance.now();
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    const bytes = writeSynthetic(big, m, { onProgress: () => (rssMax = Math.max(rssMax, process.memoryUsage().rss)) });
    const writeS = (performance.now() - t) / 1000;
    console.log(`wrote ${bytes} bytes (${(bytes / GiB).toFixed(2)} GiB, ${m.plan.params} params) in ${writeS.toFixed(1)} s; RSS ${(rssBefore / 2 ** 20).toFixed(0)} → max ${(rssMax / 2 ** 20).toFixed(0)} MiB`);
    assert.equal(statSync(big).size, bytes);
    assert.ok(bytes > 4 * GiB, 'past the 4 GiB buffer limit');
    assert.ok(rssMax - rssBefore < 1 * GiB, `writing streams: RSS grew by ${((rssMax - rssBefore) / 2 ** 20).toFixed(0)} MiB`);

    t = performance.now();
    const loaded = loadModel(big);
    console.log(`loaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const small = join(dir, 'small.gguf');
    writeSynthetic(small, planSynthetic('nemotron-h-8b', 'f32', 1, { pattern: 'M-M*-', overrides: { vocab_size: 512, intermediate_size: 64 } }));
    const ref = readGgufFile(small).tensors;
    const f32 = (name: string): Float32Array => toFloat32('f32', ref.get(name)!.data, ref.get(name)!.shape.reduce((a, b) => a * b, 1));
    const w = loaded.model.weights;
    const l3 = w.layers[3]!;
    const l4 = w.layers[4]!;
    assert.ok(l3.kind === 'attention' && l4.kind === 'mlp');
    assert.deepEqual(w.normF, f32('output_norm.weight'), 'output_norm.weight (stored past byte 2^32)');
    assert.deepEqual(l4.norm, f32('blk.4.attn_norm.weight'));
    assert.deepEqual(l3.k.data, ref.get('blk.3.attn_k.weight')!.data);
    const ids = loaded.tokenizer().encode('Hello world');
    t = performance.now();
    const logits = forward(loaded.model, newState(loaded.model), ids);
    const maxAbs = logits.reduce((x, v) => Math.max(x, Math.abs(v)), 0);
    console.log(`forward over ${ids.length} tokens in ${((performance.now() - t) / 1000).toFixed(1)} s; max |logit| ${maxAbs.toFixed(3)}`);
    assert.ok(Number.isFinite(maxAbs) && maxAbs > 0.1, `finite logits: ${maxAbs}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
