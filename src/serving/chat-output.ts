/** Stream parts → `/v1/chat/completions` responses: one JSON completion, or SSE chunks (SERVE.4, SERVE.6). */
import type { TokenLogprob, Usage } from '../engine/service.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import { choiceFailure, chatLogprobs, collectChoices, SSE_DONE, sseData, UsageTally } from './output-common.js';
import { merge } from './choices.js';
import type { ChatCompletion, ChatCompletionChoice, ChatCompletionChunk, ChatCompletionDelta, ToolCall } from './protocol/chat-completion.js';
import type { ApiFinishReason } from './protocol/common.js';
import type { StreamPart } from './stream-parts.js';

export interface ResponseMeta {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly tokenizer: TextTokenizer;
  /** Include logprobs in choices. */
  readonly logprobs: boolean;
  /** Choice i belongs to prompt promptOf[i]. */
  readonly promptOf: readonly number[];
}

interface CollectedChoice {
  readonly choice: ChatCompletionChoice;
  readonly usage: Usage;
}

async function collectChoice(index: number, parts: AsyncIterable<StreamPart>, meta: ResponseMeta): Promise<CollectedChoice> {
  let content = '';
  let reasoning = '';
  const toolCalls: ToolCall[] = [];
  const lps: TokenLogprob[] = [];
  for await (const p of parts) {
    if ('logprobs' in p) lps.push(...p.logprobs);
    if (p.type === 'text-delta') content += p.text;
    else if (p.type === 'reasoning-delta') reasoning += p.text;
    else if (p.type === 'tool-call') toolCalls.push({ id: p.id, type: 'function', function: { name: p.name, arguments: p.arguments } });
    else if (p.type === 'error') throw choiceFailure(p);
    else if (p.type === 'finish') {
      const message = {
        role: 'assistant' as const,
        content: toolCalls.length > 0 && content.trim() === '' ? null : content,
        ...(reasoning ? { reasoning_content: reasoning } : {}),
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      };
      const logprobs = meta.logprobs ? { content: chatLogprobs(meta.tokenizer, lps) } : null;
      return { choice: { index, message, logprobs, finish_reason: p.reason }, usage: p.usage };
    }
  }
  throw choiceFailure(undefined);
}

export async function chatCompletion(parts: readonly AsyncIterable<StreamPart>[], meta: ResponseMeta, onFailure: () => void): Promise<ChatCompletion> {
  const { choices, usage } = await collectChoices(parts, meta.promptOf, onFailure, (i, p) => collectChoice(i, p, meta));
  return { id: meta.id, object: 'chat.completion', created: meta.created, model: meta.model, choices, usage };
}

/** The delta a part contributes, or undefined for parts that carry nothing on the wire (starts and ends). */
function delta(p: StreamPart): ChatCompletionDelta | undefined {
  switch (p.type) {
    case 'text-delta':
      return { content: p.text };
    case 'reasoning-delta':
      return { reasoning_content: p.text };
    case 'tool-input-start':
      return { tool_calls: [{ index: p.index, id: p.id, type: 'function', function: { name: p.name, arguments: '' } }] };
    case 'tool-input-delta':
      return { tool_calls: [{ index: p.index, function: { arguments: p.delta } }] };
    default:
      return undefined;
  }
}

export async function* chatChunks(parts: readonly AsyncIterable<StreamPart>[], meta: ResponseMeta, includeUsage: boolean, onFailure: () => void): AsyncGenerator<string> {
  const chunk = (index: number, d: ChatCompletionDelta, lps: readonly TokenLogprob[], finish: ApiFinishReason | null): string => {
    const logprobs = meta.logprobs ? { content: chatLogprobs(meta.tokenizer, lps) } : null;
    const c: ChatCompletionChunk = { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, choices: [{ index, delta: d, logprobs, finish_reason: finish }] };
    return sseData(c);
  };
  const usage = new UsageTally();
  const started = new Set<number>();
  for await (const [i, p] of merge(parts)) {
    if (p.type === 'error') {
      onFailure();
      yield sseData(choiceFailure(p).body());
      break;
    }
    if (!started.has(i)) {
      started.add(i);
      yield chunk(i, { role: 'assistant', content: '' }, [], null);
    }
    if (p.type === 'finish') {
      usage.add(meta.promptOf[i]!, p.usage);
      yield chunk(i, {}, p.logprobs, p.reason);
      continue;
    }
    const d = delta(p);
    if (d !== undefined) yield chunk(i, d, 'logprobs' in p ? p.logprobs : [], null);
  }
  if (includeUsage) {
    const last: ChatCompletionChunk = { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, choices: [], usage: usage.toApi() };
    yield sseData(last);
  }
  yield SSE_DONE;
}
