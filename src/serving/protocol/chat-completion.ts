/** `/v1/chat/completions` responses: the whole completion, and the chunks of a stream. */
import type { ApiFinishReason, ApiUsage } from './common.js';

export interface TopLogprob {
  readonly token: string;
  readonly logprob: number;
  readonly bytes: number[];
}

export interface ChatTokenLogprob extends TopLogprob {
  readonly top_logprobs: TopLogprob[];
}

export interface ChatLogprobs {
  readonly content: ChatTokenLogprob[];
}

export interface ToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

export interface ChatCompletionMessage {
  readonly role: 'assistant';
  readonly content: string | null;
  /** Text inside `<think>…</think>` (vLLM's field name). */
  readonly reasoning_content?: string;
  readonly tool_calls?: ToolCall[];
}

export interface ChatCompletionChoice {
  readonly index: number;
  readonly message: ChatCompletionMessage;
  readonly logprobs: ChatLogprobs | null;
  readonly finish_reason: ApiFinishReason;
}

export interface ChatCompletion {
  readonly id: string;
  readonly object: 'chat.completion';
  readonly created: number;
  readonly model: string;
  readonly choices: ChatCompletionChoice[];
  readonly usage: ApiUsage;
}

/** A tool call as streamed: the first delta carries id, type and name; later ones append to `arguments`. */
export interface ToolCallDelta {
  readonly index: number;
  readonly id?: string;
  readonly type?: 'function';
  readonly function: { readonly name?: string; readonly arguments?: string };
}

export interface ChatCompletionDelta {
  readonly role?: 'assistant';
  readonly content?: string;
  readonly reasoning_content?: string;
  readonly tool_calls?: ToolCallDelta[];
}

export interface ChatCompletionChunkChoice {
  readonly index: number;
  readonly delta: ChatCompletionDelta;
  readonly logprobs: ChatLogprobs | null;
  readonly finish_reason: ApiFinishReason | null;
}

export interface ChatCompletionChunk {
  readonly id: string;
  readonly object: 'chat.completion.chunk';
  readonly created: number;
  readonly model: string;
  readonly choices: ChatCompletionChunkChoice[];
  /** Only on the last chunk, when `stream_options.include_usage` (then `choices` is empty). */
  readonly usage?: ApiUsage | null;
}
