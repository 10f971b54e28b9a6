/** `tandem run`: stream a completion from a model, then print prefill and decode speed. */
import { TandemError } from '../errors.js';
import { generate } from '../engine/generate.js';
import { loadModel } from '../engine/load-model.js';
import { validateSampling } from '../model/sample.js';
import type { ChatMessage } from '../text/chat-template.js';
import { chatPromptIds, completionPromptIds } from '../text/prompt-ids.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import { openBackend, type BackendFlags } from './backend-flags.js';
import { defaultModelPath } from './default-model.js';

export interface RunFlags extends BackendFlags {
  readonly model?: string;
  readonly prompt?: string;
  readonly chat?: boolean;
  readonly system?: string;
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly minP?: number;
  readonly repetitionPenalty?: number;
  readonly seed?: number;
  readonly stop?: string[];
  readonly prefillChunk: number;
  readonly kvCache: 'f32' | 'fp8';
  readonly ssmState: 'f32' | 'bf16';
  readonly emulateActivations?: boolean;
}

function promptIds(tok: TextTokenizer, f: RunFlags): number[] {
  const prompt = f.prompt ?? '';
  if (prompt.length === 0) throw new TandemError('BAD_INPUT', 'the prompt is empty: pass --prompt "some text"');
  if (!f.chat) return completionPromptIds(tok, prompt);
  const messages: ChatMessage[] = [];
  if (f.system) messages.push({ role: 'system', content: f.system });
  messages.push({ role: 'user', content: prompt });
  return chatPromptIds(tok, messages);
}

const rate = (n: number, ms: number): string => (ms > 0 ? (n / (ms / 1000)).toFixed(1) : '∞');

export async function runCommand(f: RunFlags): Promise<void> {
  const path = f.model ?? defaultModelPath((m) => process.stderr.write(m + '\n'));
  const sampling = validateSampling({
    temperature: f.temperature, topK: f.topK, topP: f.topP, minP: f.minP, repetitionPenalty: f.repetitionPenalty, seed: f.seed,
  });
  const backend = await openBackend(f);
  const loaded = loadModel(path, { backend, kvCache: f.kvCache, ssmState: f.ssmState, ...(f.emulateActivations !== undefined ? { emulateActivations: f.emulateActivations } : {}) });
  const tok = loaded.tokenizer();
  const ids = promptIds(tok, f);
  for (const part of generate(loaded.model, tok, ids, { maxTokens: f.maxTokens, sampling, stop: f.stop ?? [], prefillChunk: f.prefillChunk })) {
    if (part.type === 'text-delta') process.stdout.write(part.text);
    else {
      const s = part.stats;
      process.stdout.write('\n');
      process.stderr.write(
        `[${loaded.model.backend.name}] prefill ${s.promptTokens} tok ${rate(s.promptTokens, s.prefillMs)} tok/s · ` +
          `decode ${s.decodeSteps} tok ${rate(s.decodeSteps, s.decodeMs)} tok/s · ${s.completionTokens} generated, finish: ${part.reason}\n`,
      );
    }
  }
}
