/** `POST /v1/chat/completions` request body. */
import { z } from 'zod';
import { commonRequestFields } from './common.js';

/** A content part; only `text` parts are supported, the checklist rejects the others by name. */
export const ContentPartSchema = z.object({ type: z.string(), text: z.string().nullish() });

export const ToolCallSchema = z.object({
  id: z.string().nullish(),
  type: z.literal('function').nullish(),
  function: z.object({ name: z.string(), arguments: z.string().nullish() }),
});

export const ChatMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(ContentPartSchema)]).nullish(),
  name: z.string().nullish(),
  tool_calls: z.array(ToolCallSchema).nullish(),
  tool_call_id: z.string().nullish(),
  reasoning_content: z.string().nullish(),
});

export const ToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string(),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});

export const ToolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
]);

export const ChatCompletionRequestSchema = z.object({
  ...commonRequestFields,
  messages: z.array(ChatMessageSchema),
  max_completion_tokens: z.int().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.int().nullish(),
  tools: z.array(ToolSchema).nullish(),
  tool_choice: ToolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  /** Extension (vLLM): extra chat-template variables, e.g. `{ "enable_thinking": false }`. */
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
});

export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;
export type ChatMessageParam = z.infer<typeof ChatMessageSchema>;
export type ToolParam = z.infer<typeof ToolSchema>;
