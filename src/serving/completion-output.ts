/** Stream parts → `/v1/completions` responses: one JSON completion, or SSE chunks (same `object` for both). */
import type { TokenLogprob, Usage } from '../engine/service.js';
import { choiceFailure, collectChoices, CompletionLogprobsBuilder, SSE_DONE, sseData, UsageTally } from './output-common.js';
import { merge } from './choices.js';
import type { ResponseMeta } from './chat-output.js';
import type { Completion, CompletionChoice } from './protocol/completion.js';
import type { StreamPart } from './stream-parts.js';

async function collectChoice(index: number, parts: AsyncIterable<StreamPart>, meta: ResponseMeta): Promise<{ choice: CompletionChoice; usage: Usage }> {
  let text = '';
  const lps: TokenLogprob[] = [];
  for await (const p of parts) {
    if ('logprobs' in p) lps.push(...p.logprobs);
    if (p.type === 'text-delta') text += p.text;
    else if (p.type === 'error') throw choiceFailure(p);
    else if (p.type === 'finish') {
      const logprobs = meta.logprobs ? new CompletionLogprobsBuilder(meta.tokenizer).build(lps) : null;
      return { choice: { index, text, logprobs, finish_reason: p.reason }, usage: p.usage };
    }
  }
  throw choiceFailure(undefined);
}

export async function completion(parts: readonly AsyncIterable<StreamPart>[], meta: ResponseMeta, onFailure: () => void): Promise<Completion> {
  const { choices, usage } = await collectChoices(parts, meta.promptOf, onFailure, (i, p) => collectChoice(i, p, meta));
  return { id: meta.id, object: 'text_completion', created: meta.created, model: meta.model, choices, usage };
}

export async function* completionChunks(parts: readonly AsyncIterable<StreamPart>[], meta: ResponseMeta, includeUsage: boolean, onFailure: () => void): AsyncGenerator<string> {
  const builders = parts.map(() => new CompletionLogprobsBuilder(meta.tokenizer));
  const head = { id: meta.id, object: 'text_completion' as const, created: meta.created, model: meta.model };
  const usage = new UsageTally();
  for await (const [i, p] of merge(parts)) {
    if (p.type === 'error') {
      onFailure();
      yield sseData(choiceFailure(p).body());
      break;
    }
    if (p.type !== 'text-delta' && p.type !== 'finish') continue;
    const logprobs = meta.logprobs ? builders[i]!.build(p.logprobs) : null;
    if (p.type === 'finish') usage.add(meta.promptOf[i]!, p.usage);
    const choice: CompletionChoice = p.type === 'finish' ? { index: i, text: '', logprobs, finish_reason: p.reason } : { index: i, text: p.text, logprobs, finish_reason: null };
    const chunk: Completion = { ...head, choices: [choice] };
    yield sseData(chunk);
  }
  if (includeUsage) {
    const last: Completion = { ...head, choices: [], usage: usage.toApi() };
    yield sseData(last);
  }
  yield SSE_DONE;
}
