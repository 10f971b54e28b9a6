/** `tandem logprobs`: JSON {"tokens":[...],"logprobs":[[...V],...]} — full-vocabulary log-softmax at every position. */
import { writeFileSync } from 'node:fs';
import { loadModel } from '../engine/load-model.js';
import { sequenceLogprobs } from '../engine/logprobs.js';
import { defaultModelPath } from './default-model.js';
import { parseTokenList } from './options.js';

export interface LogprobsFlags {
  readonly model?: string;
  readonly tokens: string;
  readonly out?: string;
}

export function logprobsCommand(f: LogprobsFlags): void {
  const tokens = parseTokenList(f.tokens);
  const path = f.model ?? defaultModelPath((m) => process.stderr.write(m + '\n'));
  const { model } = loadModel(path);
  const rows = sequenceLogprobs(model, tokens);
  const json = `{"tokens":${JSON.stringify(tokens)},"logprobs":[${rows.map((r) => `[${Array.from(r).join(',')}]`).join(',')}]}\n`;
  if (f.out) writeFileSync(f.out, json);
  else process.stdout.write(json);
}
