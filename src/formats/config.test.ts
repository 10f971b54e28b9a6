import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig, parsePythonJson, layerPattern } from './config.js';
import { tinyConfigJson } from '../testing/tiny-model.js';
import { TandemError } from '../errors.js';

const base = (): Record<string, unknown> => tinyConfigJson('M*-M', 300, 512);

function throwsNaming(json: unknown, code: string, needle: string): void {
  assert.throws(() => parseModelConfig(json), (e: unknown) => {
    assert.ok(e instanceof TandemError, `expected TandemError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.ok(e.message.includes(needle), `message "${e.message}" should name ${needle}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('both layer-schedule spellings normalize to the same config', () => {
  const a = parseModelConfig(base());
  const listJson = { ...base(), hybrid_override_pattern: undefined, layers_block_type: ['mamba', 'attention', 'mlp', 'mamba'] };
  const newNames = { ...base(), hybrid_override_pattern: undefined, layers_block_type: ['linear_attention', 'full_attention', 'mlp', 'linear_attention'] };
  assert.deepEqual(parseModelConfig(listJson), a);
  assert.deepEqual(parseModelConfig(newNames), a);
  assert.deepEqual(a.layers, ['mamba2', 'attention', 'mlp', 'mamba2']);
  assert.equal(layerPattern(a), 'M*-M');
});

test('derived Mamba sizes follow heads × head_dim, not expand', () => {
  const c = parseModelConfig({ ...base(), expand: 7 });
  assert.equal(c.mamba.dInner, 8 * 16);
  assert.equal(c.mamba.convDim, 128 + 2 * 2 * 16);
  assert.equal(c.mamba.inProjDim, 2 * 128 + 2 * 2 * 16 + 8);
  assert.deepEqual(c.mamba.timeStepLimit, [0, Infinity]);
});

test('key aliases: mamba_ prefixed names, rms_norm_eps, attention_head_dim', () => {
  const j = base();
  for (const [from, to] of [['n_groups', 'mamba_n_groups'], ['conv_kernel', 'mamba_d_conv'], ['chunk_size', 'mamba_chunk_size'], ['layer_norm_epsilon', 'rms_norm_eps'], ['head_dim', 'attention_head_dim']] as const) {
    j[to] = j[from];
    delete j[from];
  }
  assert.deepEqual(parseModelConfig(j), parseModelConfig(base()));
});

test('MoE config with group-limited routing and latent size', () => {
  const c = parseModelConfig({ ...tinyConfigJson('ME*EME', 300, 512), n_group: 2, topk_group: 1, moe_latent_size: 32 });
  assert.equal(c.moe?.numExperts, 8);
  assert.equal(c.moe?.routedScale, 2.5);
  assert.equal(c.moe?.latentSize, 32);
  assert.equal(c.moe?.hasLatent, true);
  assert.equal(c.mlpDim, 0);
});

test('unsupported values are errors naming the key', () => {
  throwsNaming({ ...base(), model_type: 'llama' }, 'UNSUPPORTED', 'model_type');
  throwsNaming({ ...base(), hybrid_override_pattern: 'M*X-' }, 'BAD_CONFIG', 'hybrid_override_pattern');
  throwsNaming({ ...base(), hybrid_override_pattern: undefined, layers_block_type: ['mamba', 'conv'] }, 'BAD_CONFIG', 'layers_block_type[1]');
  throwsNaming({ ...base(), num_hidden_layers: 5 }, 'BAD_CONFIG', 'num_hidden_layers');
  throwsNaming({ ...base(), mlp_hidden_act: 'gelu' }, 'BAD_CONFIG', 'mlp_hidden_act');
  throwsNaming({ ...base(), n_groups: 3 }, 'BAD_CONFIG', 'n_groups');
  throwsNaming({ ...base(), hidden_size: 'big' }, 'BAD_CONFIG', 'hidden_size');
  throwsNaming({ ...base(), mamba_num_heads: undefined }, 'BAD_CONFIG', 'mamba_num_heads');
  throwsNaming({ ...base(), intermediate_size: undefined }, 'BAD_CONFIG', 'intermediate_size');
  throwsNaming({ ...tinyConfigJson('ME*EME', 300, 512), n_routed_experts: undefined }, 'BAD_CONFIG', 'n_routed_experts');
  throwsNaming({ ...base(), architectures: ['LlamaForCausalLM'] }, 'UNSUPPORTED', 'architectures');
  throwsNaming({ ...base(), attention_bias: true }, 'BAD_CONFIG', 'attention_bias');
  throwsNaming([], 'BAD_CONFIG', 'JSON object');
});

test('config.json written by Python with bare Infinity / NaN parses (time_step_limit [0, Infinity])', () => {
  const text = JSON.stringify({ ...base(), name_or_path: 'a "Infinity" NaN string' }).replace(/}$/, ', "time_step_limit": [0.0, Infinity], "x": NaN, "y": -Infinity}');
  const c = parseModelConfig(parsePythonJson(text));
  assert.deepEqual(c.mamba.timeStepLimit, [0, Infinity]);
  assert.equal((parsePythonJson(text) as { name_or_path: string }).name_or_path, 'a "Infinity" NaN string');
});
