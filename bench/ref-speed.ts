/**
 * `npm run bench`: prefill and decode tokens/s of the `ref` backend on generated models (the tiny fixtures and an
 * 8.5M-parameter hybrid), one process, same machine, so the rows compare with each other. The `ref` backend is the
 * oracle, not the fast path; this measures the floor later backends are compared against.
 */
import { join } from 'node:path';
import { loadModel } from '../src/engine/load-model.js';
import { parseModelConfig } from '../src/formats/config.js';
import { buildWeights, weightTally } from '../src/formats/weights.js';
import { forward, type Model } from '../src/model/nemotron-h.js';
import { createState, DEFAULT_STATE_FORMAT } from '../src/model/state.js';
import { refBackend } from '../src/numerics/ref/index.js';
import { goldenDir } from '../src/testing/golden.js';
import { tinyConfigJson, tinyTensors } from '../src/testing/tiny-model.js';

interface Row { readonly model: string; readonly params: number; readonly prefillTps: number; readonly decodeTps: number }

function measure(label: string, model: Model, prompt = 128, decode = 32): Row {
  const V = model.config.vocabSize;
  const toks = Array.from({ length: prompt }, (_, i) => (i * 37 + 5) % V);
  forward(model, createState(model.config, model.fingerprint), toks.slice(0, 8)); // warm up the JIT
  const s = createState(model.config, model.fingerprint);
  let t = performance.now();
  forward(model, s, toks);
  const pre = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < decode; i++) forward(model, s, [(i * 11 + 3) % V]);
  const dec = performance.now() - t;
  const params = weightTally(model.weights).params;
  return { model: label, params, prefillTps: (prompt / pre) * 1000, decodeTps: (decode / dec) * 1000 };
}

function medium(): Model {
  const json = {
    ...tinyConfigJson('M*M-M-M-', 461, 4096), hidden_size: 512, mamba_num_heads: 16, mamba_head_dim: 32, ssm_state_size: 64,
    n_groups: 4, num_attention_heads: 8, num_key_value_heads: 2, head_dim: 64, intermediate_size: 1024, chunk_size: 64,
  };
  const cfg = parseModelConfig(json);
  const w = buildWeights(cfg, new Map(tinyTensors(cfg, 1, 'f32').map((t) => [t.name, t])), 'hf', 'bench');
  return { config: cfg, weights: w, backend: refBackend, fingerprint: 'bench-medium', stateFormat: DEFAULT_STATE_FORMAT };
}

const rows = [
  measure('tiny dense M*M-M-*M (H 96)', loadModel(join(goldenDir(), 'dense')).model),
  measure('tiny moe ME*EME (H 96, 8 experts)', loadModel(join(goldenDir(), 'moe')).model),
  measure('medium M*M-M-M- (H 512)', medium()),
];
if (process.argv.includes('--json')) console.log(JSON.stringify({ backend: 'ref', rows }, null, 2));
else {
  console.log('backend ref · prompt 128 tokens in one forward · 32 single-token decode steps');
  for (const r of rows) console.log(`${r.model.padEnd(36)} ${(r.params / 1e6).toFixed(2).padStart(6)}M params  prefill ${r.prefillTps.toFixed(1).padStart(7)} tok/s  decode ${r.decodeTps.toFixed(1).padStart(7)} tok/s`);
}
