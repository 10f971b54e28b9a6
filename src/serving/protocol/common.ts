/**
 * Wire types shared by `/v1/chat/completions` and `/v1/completions` (OpenAI shape, plus the vLLM extensions
 * `top_k`, `min_p`, `repetition_penalty`, `ignore_eos`). Schemas check types only: unknown fields are dropped,
 * a known field of the wrong type is a 400; ranges and cross-field rules are the checklist in `validate.ts`.
 */
import { z } from 'zod';

export const StopSchema = z.union([z.string(), z.array(z.string())]).nullish();

export const StreamOptionsSchema = z
  .object({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
  .nullish();

/** Fields both endpoints accept with the same meaning. */
export const commonRequestFields = {
  model: z.string().nullish(),
  n: z.int().nullish(),
  stop: StopSchema,
  max_tokens: z.int().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  /** Extension (vLLM): -1 or 0 = off. */
  top_k: z.int().nullish(),
  /** Extension (vLLM). */
  min_p: z.number().nullish(),
  /** Extension (vLLM). */
  repetition_penalty: z.number().nullish(),
  seed: z.int().nullish(),
  stream: z.boolean().nullish(),
  stream_options: StreamOptionsSchema,
  /** Extension (vLLM, used by benchmarks): keep generating past EOS. */
  ignore_eos: z.boolean().nullish(),
  user: z.string().nullish(),
} as const;

export const CommonRequestSchema = z.object(commonRequestFields);
export type CommonRequest = z.infer<typeof CommonRequestSchema>;

/** `finish_reason` on the wire; SERVE.5 maps the engine's reasons (eos → stop). */
export type ApiFinishReason = 'stop' | 'length' | 'tool_calls';

export interface ApiUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
  readonly prompt_tokens_details: { readonly cached_tokens: number };
}

/** Every error response body (and the `error` event of a stream that fails after it started). */
export interface ApiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: string | null;
  };
}
