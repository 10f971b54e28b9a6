/**
 * Helpers for engine tests: the golden dense model, request builders, collecting a request's events, and the
 * single-sequence reference (`generate()`) that every engine result must equal.
 */
import { join } from 'node:path';
import { generate, type FinishReason } from '../engine/generate.js';
import { loadModel, type LoadedModel } from '../engine/load-model.js';
import type { GenerationRequest, ServiceEvent, TokenLogprob } from '../engine/service.js';
import { DEFAULT_SAMPLING, type SamplingOptions } from '../model/sample.js';
import { goldenDir } from './golden.js';
import { Rng } from './rng.js';

let dense: LoadedModel | undefined;

/** tests/golden/dense, loaded once per process. */
export function goldenDense(): LoadedModel {
  return (dense ??= loadModel(join(goldenDir(), 'dense')));
}

let nextId = 0;

export function request(prompt: readonly number[], over: Partial<Omit<GenerationRequest, 'sampling'>> & { sampling?: Partial<SamplingOptions> } = {}): GenerationRequest {
  return {
    id: `t${nextId++}`,
    maxTokens: 16,
    stop: [],
    ...over,
    prompt,
    sampling: { ...DEFAULT_SAMPLING, ...over.sampling },
  };
}

/** `n` pseudo-random prompt ids in [3, vocab) after BOS (1). */
export function randomPrompt(seed: number, n: number, vocab: number): number[] {
  const rng = new Rng(seed);
  return [1, ...Array.from({ length: n - 1 }, () => 3 + rng.int(vocab - 3))];
}

export interface Collected {
  readonly tokens: number[];
  readonly text: string;
  readonly logprobs: TokenLogprob[];
  readonly reason: FinishReason | undefined;
  readonly last: ServiceEvent | undefined;
  readonly events: ServiceEvent[];
}

/** Drain a request's events. `onToken` may abort the request (return true to stop reading). */
export async function collect(stream: AsyncIterable<ServiceEvent>, onToken?: (count: number) => boolean | void): Promise<Collected> {
  const events: ServiceEvent[] = [];
  const tokens: number[] = [];
  const logprobs: TokenLogprob[] = [];
  let text = '';
  let reason: FinishReason | undefined;
  for await (const ev of stream) {
    events.push(ev);
    if (ev.type === 'token') {
      tokens.push(ev.token);
      text += ev.text;
      if (ev.logprob) logprobs.push(ev.logprob);
      if (onToken?.(tokens.length) === true) break;
    } else if (ev.type === 'finish') {
      reason = ev.reason;
      text += ev.text ?? '';
    }
  }
  return { tokens, text, logprobs, reason, last: events.at(-1), events };
}

/** What `generate()` (the single-sequence loop) produces for the same request. */
export function reference(loaded: LoadedModel, req: GenerationRequest): { tokens: number[]; text: string; reason: FinishReason } {
  let text = '';
  for (const part of generate(loaded.model, loaded.tokenizer(), req.prompt, { maxTokens: req.maxTokens, sampling: req.sampling, stop: req.stop })) {
    if (part.type === 'text-delta') text += part.text;
    else return { tokens: [...part.tokens], text, reason: part.reason };
  }
  throw new Error('generate() ended without a finish part');
}

/** Resolve after `n` turns of the event loop (each engine step takes one). */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}
