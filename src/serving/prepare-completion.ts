/** `/v1/completions` body → service requests: checklist V2–V17 (validate.ts); prompts are encoded as `tandem run` does. */
import { completionPromptIds } from '../text/prompt-ids.js';
import { ApiError, badRequest } from './api-error.js';
import { CompletionRequestSchema, type CompletionRequest } from './protocol/completion-request.js';
import {
  buildRequests,
  checkCommon,
  checkMaxTokens,
  checkModel,
  checkStreamOptions,
  MAX_TOP_LOGPROBS,
  parseSchema,
  type Prepared,
  type ServingContext,
} from './validate.js';

/** V5, V16: every prompt → token ids. */
function promptIds(ctx: ServingContext, prompt: CompletionRequest['prompt']): number[][] {
  const list: (string | number[])[] =
    typeof prompt === 'string' ? [prompt] : prompt.length > 0 && typeof prompt[0] === 'number' ? [prompt as number[]] : (prompt as (string | number[])[]);
  if (list.length === 0) throw badRequest('prompt', 'prompt must not be empty');
  const vocab = ctx.tokenizer.vocabSize;
  return list.map((p, i) => {
    const param = list.length > 1 ? `prompt[${i}]` : 'prompt';
    if (typeof p !== 'string') {
      const bad = p.find((id) => id < 0 || id >= vocab);
      if (bad !== undefined) throw badRequest(param, `token id ${bad} is outside the vocabulary (0..${vocab - 1})`);
    }
    const ids = typeof p === 'string' ? completionPromptIds(ctx.tokenizer, p) : p;
    if (ids.length === 0 || (typeof p === 'string' && p.length === 0)) throw badRequest(param, 'the prompt is empty; give at least one character');
    return ids;
  });
}

/** V11, V14 */
function checkCompletionOptions(r: CompletionRequest): number | undefined {
  if (r.echo === true) throw new ApiError(400, 'unsupported_value', 'echo is not supported; send echo: false', 'echo');
  if (typeof r.suffix === 'string' && r.suffix.length > 0) throw new ApiError(400, 'unsupported_value', 'suffix is not supported', 'suffix');
  const lp = r.logprobs ?? undefined;
  if (lp !== undefined && (lp < 0 || lp > MAX_TOP_LOGPROBS)) {
    throw badRequest('logprobs', `logprobs must be an integer in 0..${MAX_TOP_LOGPROBS}, got ${lp}`);
  }
  return lp;
}

export function prepareCompletion(ctx: ServingContext, body: unknown, id: string): Prepared {
  const r = parseSchema(CompletionRequestSchema, body);
  checkModel(ctx, r.model);
  const prompts = promptIds(ctx, r.prompt);
  const maxTokens = checkMaxTokens(r.max_tokens, 'max_tokens');
  const topLogprobs = checkCompletionOptions(r);
  const common = checkCommon(r, maxTokens, topLogprobs);
  return { ...checkStreamOptions(r), ...buildRequests(ctx, id, prompts, common, 'prompt'), logprobs: topLogprobs !== undefined };
}
