/** `POST /v1/completions` request body (legacy completions: raw prompt, no chat template). */
import { z } from 'zod';
import { commonRequestFields } from './common.js';

/** A string, a batch of strings, a list of token ids, or a batch of token-id lists. */
export const PromptSchema = z.union([z.string(), z.array(z.string()), z.array(z.int()), z.array(z.array(z.int()))]);

export const CompletionRequestSchema = z.object({
  ...commonRequestFields,
  prompt: PromptSchema,
  /** Number of alternatives per position (0..20); null or absent = no logprobs. */
  logprobs: z.int().nullish(),
  /** Only `false` is supported; the checklist rejects `true`. */
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
});

export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;
