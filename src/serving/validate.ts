/**
 * Request validation as a numbered checklist (SERVE.7). Each endpoint runs the checks that apply to it and the first
 * failure answers; every failure is an `ApiError` with its own code and, where there is one, the offending parameter.
 *
 *  V1  body ≤ 4 MiB                                          413 request_too_large        (http/app.ts)
 *  V2  body is a JSON object                                 400 invalid_json
 *  V3  each known field has its type (unknown ones dropped)  400 invalid_type             param = field path
 *  V4  `model`, when given, is the served model              404 model_not_found          param model
 *  V5  messages / prompt present and non-empty               400 invalid_value            param messages | prompt
 *  V6  content parts are text parts                          400 unsupported_value        param messages[i].content[j].type
 *  V7  n in 1..16                                            400 invalid_value            param n
 *  V8  max_tokens / max_completion_tokens ≥ 1                400 invalid_value            param max_tokens | max_completion_tokens
 *  V9  sampling in range (temperature ≥ 0, 0 < top_p ≤ 1,    400 invalid_value            param temperature | top_p | top_k
 *      top_k ≥ -1, 0 ≤ min_p ≤ 1, repetition_penalty > 0)                                     | min_p | repetition_penalty
 *  V10 stop: at most 16 non-empty strings                    400 invalid_value            param stop
 *  V11 logprobs: chat top_logprobs 0..20 and only with       400 invalid_value            param top_logprobs | logprobs
 *      logprobs; completions logprobs 0..20
 *  V12 stream_options only with stream: true                 400 invalid_value            param stream_options
 *  V13 tools named and unique; tool_choice none | auto, or a  400 invalid_value /         param tools | tool_choice
 *      known function (required / named → unsupported)        unsupported_value
 *  V14 completions: echo false, no suffix                    400 unsupported_value        param echo | suffix
 *  V15 the chat template renders                             400 chat_template_error      param messages
 *  V16 token-id prompts are within the vocabulary            400 invalid_value            param prompt
 *  V17 prompt (+ max_tokens) fits the context                400 context_length_exceeded  param messages | prompt
 */
import { randomInt } from 'node:crypto';
import type { z } from 'zod';
import { isTandemError } from '../errors.js';
import type { GenerationRequest, InferenceService } from '../engine/service.js';
import { validateSampling, type SamplingOptions } from '../model/sample.js';
import type { OutputParserOptions } from '../text/output-parser.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import { ApiError, badRequest } from './api-error.js';
import type { CommonRequest } from './protocol/common.js';

export const MAX_BODY_BYTES = 4 * 1024 * 1024;
export const MAX_N = 16;
export const MAX_STOPS = 16;
export const MAX_TOP_LOGPROBS = 20;

export interface ServingContext {
  readonly service: InferenceService;
  readonly tokenizer: TextTokenizer;
}

/** What every endpoint turns a valid body into. */
export interface Prepared {
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** One per choice; choice i belongs to prompt `promptOf[i]` (choices are prompt-major, n per prompt). */
  readonly requests: GenerationRequest[];
  readonly promptOf: number[];
  /** Include logprobs in the response. */
  readonly logprobs: boolean;
  /** Chat: how to split the output into text, reasoning and tool calls; completions: absent (raw text). */
  readonly parser?: OutputParserOptions;
}

type Common = CommonRequest;

/** V2 */
export function parseJsonBody(text: string): unknown {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, 'invalid_json', `the request body is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'invalid_json', 'the request body must be a JSON object');
  }
  return body;
}

/** `['messages', 0, 'content']` → `messages[0].content` */
export function paramPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

/** V3 */
export function parseSchema<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = paramPath(issue.path);
  const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  throw new ApiError(400, missing ? 'missing_required_parameter' : 'invalid_type', `${param || 'body'}: ${issue.message}`, param || null);
}

/** V4 */
export function checkModel(ctx: ServingContext, model: string | null | undefined): void {
  if (model === null || model === undefined || model === ctx.service.modelName) return;
  throw new ApiError(404, 'model_not_found', `the model "${model}" does not exist; this server serves "${ctx.service.modelName}"`, 'model');
}

/** V7 */
export function checkN(n: number | null | undefined): number {
  if (n === null || n === undefined) return 1;
  if (n < 1 || n > MAX_N) throw badRequest('n', `n must be an integer in 1..${MAX_N}, got ${n}`);
  return n;
}

/** V8 */
export function checkMaxTokens(v: number | null | undefined, param: string): number | undefined {
  if (v === null || v === undefined) return undefined;
  if (v < 1) throw badRequest(param, `${param} must be an integer ≥ 1, got ${v}`);
  return v;
}

const SAMPLING_PARAMS: readonly [keyof Common & string, keyof SamplingOptions][] = [
  ['temperature', 'temperature'],
  ['top_p', 'topP'],
  ['top_k', 'topK'],
  ['min_p', 'minP'],
  ['repetition_penalty', 'repetitionPenalty'],
];

/** V9 (SERVE.3): request fields → `SamplingOptions`. OpenAI's default temperature is 1; top_k -1 means off. */
export function checkSampling(r: Common): SamplingOptions {
  const o: Partial<SamplingOptions> = { temperature: 1 };
  for (const [param, key] of SAMPLING_PARAMS) {
    let v = r[param];
    if (v === null || v === undefined) continue;
    if (param === 'top_k' && v === -1) v = 0;
    try {
      validateSampling({ [key]: v });
    } catch (e) {
      const range = isTandemError(e) ? e.message.replace(/^sampling option \S+ must be /, '').replace(/; pass.*$/, '') : '';
      throw badRequest(param, `${param} must be ${range.replace(/topP|topK|minP/g, param)}`);
    }
    o[key] = v as number;
  }
  o.seed = r.seed ?? randomInt(2 ** 31);
  return validateSampling(o);
}

/** V10 */
export function checkStop(stop: string | string[] | null | undefined): string[] {
  const list = stop === null || stop === undefined ? [] : typeof stop === 'string' ? [stop] : stop;
  if (list.length > MAX_STOPS) throw badRequest('stop', `at most ${MAX_STOPS} stop strings, got ${list.length}`);
  if (list.some((s) => s.length === 0)) throw badRequest('stop', 'a stop string is empty; remove it');
  return list;
}

/** V12 */
export function checkStreamOptions(r: Common): { stream: boolean; includeUsage: boolean } {
  const stream = r.stream ?? false;
  if (!stream && r.stream_options !== null && r.stream_options !== undefined) {
    throw badRequest('stream_options', 'stream_options is only allowed when stream is true');
  }
  return { stream, includeUsage: stream && (r.stream_options?.include_usage ?? false) };
}

/** V17: the prompt must leave room for at least one token, and for all of max_tokens when given. */
export function checkContext(ctx: ServingContext, promptLen: number, maxTokens: number | undefined, param: string): number {
  const limit = ctx.service.maxContext;
  const wanted = promptLen + (maxTokens ?? 1);
  if (wanted > limit) {
    const asked = maxTokens === undefined ? '' : ` (${promptLen} in the ${param}, ${maxTokens} in the completion)`;
    throw new ApiError(
      400,
      'context_length_exceeded',
      `this model's maximum context length is ${limit} tokens; however you requested ${wanted} tokens${asked}. ` +
        `Shorten the ${param} or lower max_tokens.`,
      param,
    );
  }
  return maxTokens ?? limit - promptLen;
}

export interface RequestCommon {
  readonly sampling: SamplingOptions;
  readonly n: number;
  readonly stop: string[];
  readonly maxTokens: number | undefined;
  readonly topLogprobs: number | undefined;
  readonly ignoreEos: boolean;
}

/** V7–V10 for the fields both endpoints share. */
export function checkCommon(r: Common, maxTokens: number | undefined, topLogprobs: number | undefined): RequestCommon {
  const n = checkN(r.n);
  return { n, sampling: checkSampling(r), stop: checkStop(r.stop), maxTokens, topLogprobs, ignoreEos: r.ignore_eos ?? false };
}

/** One service request per (prompt, choice); choice k of a prompt samples with seed + k. */
export function buildRequests(ctx: ServingContext, id: string, prompts: readonly number[][], c: RequestCommon, param: string): Pick<Prepared, 'requests' | 'promptOf'> {
  const requests: GenerationRequest[] = [];
  const promptOf: number[] = [];
  prompts.forEach((prompt, p) => {
    const maxTokens = checkContext(ctx, prompt.length, c.maxTokens, param);
    for (let k = 0; k < c.n; k++) {
      requests.push({
        id: `${id}-${requests.length}`,
        prompt,
        sampling: { ...c.sampling, seed: c.sampling.seed + k },
        maxTokens,
        stop: c.stop,
        ...(c.topLogprobs !== undefined ? { topLogprobs: c.topLogprobs } : {}),
        ...(c.ignoreEos ? { ignoreEos: true } : {}),
      });
      promptOf.push(p);
    }
  });
  return { requests, promptOf };
}
