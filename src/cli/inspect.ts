/** `tandem inspect PATH`: architecture, layer schedule, parameters, bytes per format, state size. */
import { loadModel } from '../engine/load-model.js';
import { layerPattern, type ModelConfig } from '../formats/config.js';
import { weightTally } from '../formats/weights.js';
import { stateBytes } from '../model/state.js';

export interface InspectReport {
  readonly path: string;
  readonly format: 'hf' | 'gguf';
  readonly architecture: string;
  readonly pattern: string;
  readonly layers: Readonly<Record<string, number>>;
  readonly parameters: number;
  readonly bytesByFormat: Readonly<Record<string, number>>;
  /** Bits per weight of each format (bytes incl. scales ÷ elements). */
  readonly bitsPerWeight: Readonly<Record<string, number>>;
  readonly state: { readonly fixedBytes: number; readonly bytesPerToken: number; readonly at: Readonly<Record<string, number>> };
  readonly config: ModelConfig;
  readonly fingerprint: string;
}

export function inspectModel(path: string): InspectReport {
  const { model, format } = loadModel(path);
  const cfg = model.config;
  const { params, bytes, elements } = weightTally(model.weights);
  const bitsPerWeight = Object.fromEntries(Object.entries(bytes).map(([k, b]) => [k, (8 * b) / elements[k]!]));
  const layers: Record<string, number> = {};
  for (const k of cfg.layers) layers[k] = (layers[k] ?? 0) + 1;
  const sb = stateBytes(cfg, 0);
  const at: Record<string, number> = {};
  for (const [label, n] of [['8k', 8192], ['128k', 131072], ['1M', 1048576]] as const) at[label] = stateBytes(cfg, n).total;
  return {
    path, format, architecture: cfg.moe ? 'nemotron_h_moe' : 'nemotron_h', pattern: layerPattern(cfg), layers, parameters: params,
    bytesByFormat: bytes, bitsPerWeight, state: { fixedBytes: sb.fixed, bytesPerToken: sb.perToken, at }, config: cfg, fingerprint: model.fingerprint,
  };
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(2)} ${units[i]}`;
}

export function formatInspect(r: InspectReport): string {
  const c = r.config;
  const m = c.mamba;
  const a = c.attention;
  const lines = [
    `${r.path} (${r.format === 'hf' ? 'HF safetensors' : 'GGUF'})`,
    `architecture   ${r.architecture}, ${c.layers.length} layers: ${Object.entries(r.layers).map(([k, n]) => `${n} ${k}`).join(', ')}`,
    `schedule       ${r.pattern}`,
    `hidden ${c.hiddenSize} · vocab ${c.vocabSize} · context ${c.maxPositions} · eps ${Number(c.eps.toPrecision(6))}`,
    `mamba2         ${m.numHeads} heads × ${m.headDim} (d_inner ${m.dInner}), state ${m.stateSize}, groups ${m.nGroups}, conv ${m.convKernel}`,
    `attention      ${a.numHeads} q heads, ${a.numKvHeads} kv heads, head dim ${a.headDim} (no positional encoding)`,
  ];
  if (c.mlpDim) lines.push(`mlp            ReLU², width ${c.mlpDim}`);
  if (c.moe) lines.push(`moe            ${c.moe.numExperts} experts, top-${c.moe.topK}, width ${c.moe.expertDim}, shared ${c.moe.sharedDim}, scale ${c.moe.routedScale}${c.moe.hasLatent ? `, latent ${c.moe.latentSize}` : ''}`);
  lines.push(`parameters     ${r.parameters.toLocaleString('en-US')}`);
  const total = Object.values(r.bytesByFormat).reduce((x, y) => x + y, 0);
  const bpw = (8 * total) / r.parameters;
  lines.push(`weights        ${humanBytes(total)}, ${bpw.toFixed(2)} bits/weight (${Object.entries(r.bytesByFormat).map(([k, b]) => `${k} ${humanBytes(b)} at ${r.bitsPerWeight[k]!.toFixed(2)} bits`).join(', ')})`);
  lines.push(`state          ${humanBytes(r.state.fixedBytes)} fixed (Mamba conv+SSM, f32) + ${humanBytes(r.state.bytesPerToken)}/token (attention KV, f32)`);
  lines.push(`state/sequence ${Object.entries(r.state.at).map(([k, b]) => `${k}: ${humanBytes(b)}`).join(' · ')}`);
  lines.push(`fingerprint    ${r.fingerprint.slice(0, 16)}`);
  return lines.join('\n');
}
