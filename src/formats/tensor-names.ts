/**
 * The checkpoint-name table: every tensor a Nemotron-H model needs, under its HF safetensors name and its GGUF name
 * (llama.cpp `nemotron_h` / `nemotron_h_moe`), with the shape each format stores it in (PyTorch order; the GGUF
 * reader already reverses ggml's `ne`). Spec: nemotron-h.md §5.2 (HF) and §6.4 (GGUF and converter transforms).
 *
 * The loader walks this table and nothing else, so a name appears in exactly one place.
 */
import type { LayerKind, ModelConfig } from './config.js';

export type CheckpointNaming = 'hf' | 'gguf';

/** What the loader does with the stored tensor (the converter transforms of §6.4, undone). */
export type TensorRole =
  | 'matrix' // a linear weight [out, in] kept in its stored format
  | 'vector' // decoded to f32
  | 'a_log' // HF stores A_log; Tandem keeps A = −exp(A_log)
  | 'a' // GGUF stores A = −exp(A_log) directly
  | 'experts'; // GGUF stacks experts: [E, out, in]

export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role: TensorRole;
}

/** Slot → spec for one layer (slot names are Tandem's, e.g. `inProj`, `convW`). */
export type LayerSpecs = Readonly<Record<string, TensorSpec>>;

export interface ModelSpecs {
  readonly embed: TensorSpec;
  readonly normF: TensorSpec;
  readonly lmHead: TensorSpec | null; // null when tied to the embedding
  readonly layers: readonly LayerSpecs[];
}

/** Tensors that may appear in real checkpoints and that Tandem deliberately does not load (multi-token prediction). */
export function isIgnoredTensor(name: string): boolean {
  return name.startsWith('mtp.') || /^blk\.\d+\.nextn\./.test(name);
}

const mat = (name: string, shape: number[]): TensorSpec => ({ name, shape, role: 'matrix' });
const vec = (name: string, shape: number[], role: TensorRole = 'vector'): TensorSpec => ({ name, shape, role });

function mambaSpecs(c: ModelConfig, i: number, naming: CheckpointNaming): LayerSpecs {
  const { dInner: Di, convDim: Cd, inProjDim, numHeads: nh, convKernel: K, nGroups: G } = c.mamba;
  const H = c.hiddenSize;
  if (naming === 'hf') {
    const p = `backbone.layers.${i}.mixer.`;
    return {
      inProj: mat(`${p}in_proj.weight`, [inProjDim, H]),
      convW: vec(`${p}conv1d.weight`, [Cd, 1, K]),
      convB: vec(`${p}conv1d.bias`, [Cd]),
      dtBias: vec(`${p}dt_bias`, [nh]),
      A: vec(`${p}A_log`, [nh], 'a_log'),
      D: vec(`${p}D`, [nh]),
      gateNorm: vec(`${p}norm.weight`, [Di]),
      outProj: mat(`${p}out_proj.weight`, [H, Di]),
    };
  }
  const p = `blk.${i}.`;
  return {
    inProj: mat(`${p}ssm_in.weight`, [inProjDim, H]),
    convW: vec(`${p}ssm_conv1d.weight`, [Cd, K]),
    convB: vec(`${p}ssm_conv1d.bias`, [Cd]),
    dtBias: vec(`${p}ssm_dt.bias`, [nh]),
    A: vec(`${p}ssm_a`, [nh, 1], 'a'),
    D: vec(`${p}ssm_d`, [nh, 1]),
    gateNorm: vec(`${p}ssm_norm.weight`, [G, Di / G]),
    outProj: mat(`${p}ssm_out.weight`, [H, Di]),
  };
}

function attentionSpecs(c: ModelConfig, i: number, naming: CheckpointNaming): LayerSpecs {
  const { numHeads: nq, numKvHeads: nkv, headDim: dh } = c.attention;
  const H = c.hiddenSize;
  const [q, k, v, o] = naming === 'hf'
    ? ['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((n) => `backbone.layers.${i}.mixer.${n}.weight`)
    : ['attn_q', 'attn_k', 'attn_v', 'attn_output'].map((n) => `blk.${i}.${n}.weight`);
  return { q: mat(q!, [nq * dh, H]), k: mat(k!, [nkv * dh, H]), v: mat(v!, [nkv * dh, H]), o: mat(o!, [H, nq * dh]) };
}

function mlpSpecs(c: ModelConfig, i: number, naming: CheckpointNaming): LayerSpecs {
  const H = c.hiddenSize;
  const F = c.mlpDim;
  if (naming === 'hf') {
    const p = `backbone.layers.${i}.mixer.`;
    return { up: mat(`${p}up_proj.weight`, [F, H]), down: mat(`${p}down_proj.weight`, [H, F]) };
  }
  return { up: mat(`blk.${i}.ffn_up.weight`, [F, H]), down: mat(`blk.${i}.ffn_down.weight`, [H, F]) };
}

function moeSpecs(c: ModelConfig, i: number, naming: CheckpointNaming): LayerSpecs {
  const m = c.moe!;
  const H = c.hiddenSize;
  const L = m.latentSize;
  const specs: Record<string, TensorSpec> = {};
  if (naming === 'hf') {
    const p = `backbone.layers.${i}.mixer.`;
    specs.router = mat(`${p}gate.weight`, [m.numExperts, H]);
    specs.routerBias = vec(`${p}gate.e_score_correction_bias`, [m.numExperts]);
    for (let e = 0; e < m.numExperts; e++) {
      specs[`up${e}`] = mat(`${p}experts.${e}.up_proj.weight`, [m.expertDim, L]);
      specs[`down${e}`] = mat(`${p}experts.${e}.down_proj.weight`, [L, m.expertDim]);
    }
    specs.sharedUp = mat(`${p}shared_experts.up_proj.weight`, [m.sharedDim, H]);
    specs.sharedDown = mat(`${p}shared_experts.down_proj.weight`, [H, m.sharedDim]);
    if (m.hasLatent) {
      specs.latentDown = mat(`${p}fc1_latent_proj.weight`, [L, H]);
      specs.latentUp = mat(`${p}fc2_latent_proj.weight`, [H, L]);
    }
    return specs;
  }
  const p = `blk.${i}.`;
  specs.router = mat(`${p}ffn_gate_inp.weight`, [m.numExperts, H]);
  specs.routerBias = vec(`${p}exp_probs_b.bias`, [m.numExperts]);
  specs.upExperts = { name: `${p}ffn_up_exps.weight`, shape: [m.numExperts, m.expertDim, L], role: 'experts' };
  specs.downExperts = { name: `${p}ffn_down_exps.weight`, shape: [m.numExperts, L, m.expertDim], role: 'experts' };
  specs.sharedUp = mat(`${p}ffn_up_shexp.weight`, [m.sharedDim, H]);
  specs.sharedDown = mat(`${p}ffn_down_shexp.weight`, [H, m.sharedDim]);
  if (m.hasLatent) {
    specs.latentDown = mat(`${p}ffn_latent_down.weight`, [L, H]);
    specs.latentUp = mat(`${p}ffn_latent_up.weight`, [H, L]);
  }
  return specs;
}

const LAYER_SPECS: Readonly<Record<LayerKind, (c: ModelConfig, i: number, n: CheckpointNaming) => LayerSpecs>> = {
  mamba2: mambaSpecs, attention: attentionSpecs, mlp: mlpSpecs, moe: moeSpecs,
};

/** The complete expected tensor table for a config in one naming scheme. */
export function modelSpecs(c: ModelConfig, naming: CheckpointNaming): ModelSpecs {
  const H = c.hiddenSize;
  const V = c.vocabSize;
  const hf = naming === 'hf';
  const layers = c.layers.map((kind, i) => ({
    norm: vec(hf ? `backbone.layers.${i}.norm.weight` : `blk.${i}.attn_norm.weight`, [H]),
    ...LAYER_SPECS[kind](c, i, naming),
  }));
  return {
    embed: mat(hf ? 'backbone.embeddings.weight' : 'token_embd.weight', [V, H]),
    normF: vec(hf ? 'backbone.norm_f.weight' : 'output_norm.weight', [H]),
    lmHead: c.tieWordEmbeddings ? null : mat(hf ? 'lm_head.weight' : 'output.weight', [V, H]),
    layers,
  };
}

/** Alternative names some tools write for the same tensor (nemotron-h.md §5.2). */
export const HF_ALIASES: Readonly<Record<string, string>> = {
  'backbone.embedding.weight': 'backbone.embeddings.weight',
};
