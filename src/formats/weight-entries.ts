/**
 * The inverse of `buildWeights`: walk a model's weights in checkpoint order under either naming scheme, pairing
 * every tensor spec with its value and the HF module it belongs to (for include/exclude patterns such as ModelOpt's
 * `exclude_modules`). Writers (quantize, convert) use this so names still live only in tensor-names.ts.
 */
import type { ModelConfig } from './config.js';
import type { LayerWeights, ModelWeights } from './weights.js';
import type { Matrix } from '../numerics/tensor.js';
import { modelSpecs, type CheckpointNaming, type TensorSpec } from './tensor-names.js';

export type EntryValue = Matrix | Float32Array | readonly Matrix[];

export interface WeightEntry {
  readonly spec: TensorSpec;
  /** HF module name, e.g. "backbone.layers.3.mixer.in_proj" or "lm_head". */
  readonly module: string;
  /** Tandem's slot name, e.g. "inProj", "router", "up3", "upExperts". */
  readonly slot: string;
  readonly value: EntryValue;
}

function layerValue(l: LayerWeights, slot: string): EntryValue {
  if (l.kind === 'moe') {
    const m = /^(up|down)(\d+)$/.exec(slot);
    if (m) return l.experts[Number(m[2])]![m[1] as 'up' | 'down'];
    if (slot === 'upExperts') return l.experts.map((e) => e.up);
    if (slot === 'downExperts') return l.experts.map((e) => e.down);
  }
  const v = (l as unknown as Record<string, EntryValue | null>)[slot];
  if (v === undefined || v === null) throw new Error(`layer ${l.kind} has no weight slot ${slot}`);
  return v;
}

const moduleOf = (hfName: string): string => hfName.replace(/\.(weight|bias)$/, '').replace(/\.(A_log|D|dt_bias)$/, '');

/** Every tensor of the model in `naming` order: embedding, layers (table order), final norm, LM head (if untied). */
export function weightEntries(cfg: ModelConfig, w: ModelWeights, naming: CheckpointNaming): WeightEntry[] {
  const specs = modelSpecs(cfg, naming);
  const hf = modelSpecs(cfg, 'hf');
  const out: WeightEntry[] = [{ spec: specs.embed, module: moduleOf(hf.embed.name), slot: 'embed', value: w.embed }];
  specs.layers.forEach((layer, i) => {
    for (const [slot, spec] of Object.entries(layer)) {
      const hfSpec = hf.layers[i]![slot];
      const module = hfSpec ? moduleOf(hfSpec.name) : `backbone.layers.${i}.mixer.experts`;
      out.push({ spec, module, slot, value: layerValue(w.layers[i]!, slot) });
    }
  });
  out.push({ spec: specs.normF, module: moduleOf(hf.normF.name), slot: 'normF', value: w.normF });
  if (specs.lmHead) out.push({ spec: specs.lmHead, module: 'lm_head', slot: 'lmHead', value: w.lmHead });
  return out;
}
