/** `/v1/completions` responses: the whole completion, and the chunks of a stream (same `object` for both). */
import type { ApiFinishReason, ApiUsage } from './common.js';

/** Legacy logprobs: parallel arrays over the generated tokens. */
export interface CompletionLogprobs {
  readonly tokens: string[];
  readonly token_logprobs: number[];
  readonly top_logprobs: Record<string, number>[];
  readonly text_offset: number[];
}

export interface CompletionChoice {
  readonly index: number;
  readonly text: string;
  readonly logprobs: CompletionLogprobs | null;
  readonly finish_reason: ApiFinishReason | null;
}

export interface Completion {
  readonly id: string;
  readonly object: 'text_completion';
  readonly created: number;
  readonly model: string;
  readonly choices: CompletionChoice[];
  readonly usage?: ApiUsage | null;
}
