/** `/v1/chat/completions` body → service requests: checklist V2–V17 (validate.ts) plus templating (SERVE.1). */
import { isTandemError } from '../errors.js';
import type { ChatMessage } from '../text/chat-template.js';
import { promptOpensReasoning } from '../text/output-parser.js';
import { chatPromptText } from '../text/prompt-ids.js';
import { ApiError, badRequest } from './api-error.js';
import {
  ChatCompletionRequestSchema,
  type ChatCompletionRequest,
  type ChatMessageParam,
  type ToolParam,
} from './protocol/chat-completion-request.js';
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

/** V6: string, null, or a list of text parts (joined with newlines, as vLLM does). */
function contentText(m: ChatMessageParam, i: number): string {
  const c = m.content;
  if (c === null || c === undefined) return '';
  if (typeof c === 'string') return c;
  return c
    .map((part, j) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw new ApiError(400, 'unsupported_value', `content part type "${part.type}" is not supported; send text parts`, `messages[${i}].content[${j}].type`);
      }
      return part.text;
    })
    .join('\n');
}

/** Arguments as the object templates expect (`tool_call.arguments | tojson`), the string when it is not JSON. */
function templateArguments(args: string | null | undefined): unknown {
  if (args === null || args === undefined || args === '') return {};
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return args;
  }
}

function toChatMessage(m: ChatMessageParam, i: number): ChatMessage {
  const out: ChatMessage = { role: m.role === 'developer' ? 'system' : m.role, content: contentText(m, i) };
  if (m.tool_calls) {
    out.tool_calls = m.tool_calls.map((t) => ({
      id: t.id ?? undefined,
      type: 'function',
      function: { name: t.function.name, arguments: templateArguments(t.function.arguments) },
    }));
  }
  if (typeof m.tool_call_id === 'string') out.tool_call_id = m.tool_call_id;
  if (typeof m.name === 'string') out.name = m.name;
  return out;
}

/** V13: whether tool calls are parsed (tools offered and tool_choice not "none"). */
function checkTools(tools: ToolParam[] | null | undefined, choice: ChatCompletionRequest['tool_choice']): boolean {
  const names = new Set<string>();
  for (const [i, t] of (tools ?? []).entries()) {
    if (t.function.name.length === 0) throw badRequest(`tools[${i}].function.name`, 'a tool needs a non-empty name');
    if (names.has(t.function.name)) throw badRequest(`tools[${i}].function.name`, `two tools are named "${t.function.name}"`);
    names.add(t.function.name);
  }
  if (choice === null || choice === undefined || choice === 'auto' || choice === 'none') {
    return names.size > 0 && choice !== 'none';
  }
  if (names.size === 0) throw badRequest('tool_choice', 'tool_choice needs tools');
  if (typeof choice === 'object' && !names.has(choice.function.name)) {
    throw badRequest('tool_choice', `tool_choice names "${choice.function.name}", which is not among the tools`);
  }
  throw new ApiError(400, 'unsupported_value', 'only tool_choice "auto" and "none" are supported (no constrained decoding); use "auto"', 'tool_choice');
}

/** V11 */
function checkLogprobs(r: ChatCompletionRequest): number | undefined {
  const top = r.top_logprobs ?? undefined;
  if (top !== undefined && (top < 0 || top > MAX_TOP_LOGPROBS)) {
    throw badRequest('top_logprobs', `top_logprobs must be an integer in 0..${MAX_TOP_LOGPROBS}, got ${top}`);
  }
  if (top !== undefined && top > 0 && r.logprobs !== true) throw badRequest('top_logprobs', 'top_logprobs needs logprobs: true');
  return r.logprobs === true ? (top ?? 0) : undefined;
}

/** V15: render the template; a template that raises (e.g. roles must alternate) is the request's fault. */
function render(ctx: ServingContext, messages: ChatMessage[], r: ChatCompletionRequest): string {
  try {
    return chatPromptText(ctx.tokenizer, messages, {
      ...(r.tools ? { tools: r.tools } : {}),
      ...(r.chat_template_kwargs ? { extra: r.chat_template_kwargs } : {}),
    });
  } catch (e) {
    if (isTandemError(e)) throw new ApiError(400, 'chat_template_error', e.message, 'messages');
    throw e;
  }
}

export function prepareChat(ctx: ServingContext, body: unknown, id: string): Prepared {
  const r = parseSchema(ChatCompletionRequestSchema, body);
  checkModel(ctx, r.model);
  if (r.messages.length === 0) throw badRequest('messages', 'messages must contain at least one message');
  const messages = r.messages.map(toChatMessage);
  const maxTokens = checkMaxTokens(r.max_completion_tokens, 'max_completion_tokens') ?? checkMaxTokens(r.max_tokens, 'max_tokens');
  const topLogprobs = checkLogprobs(r);
  const common = checkCommon(r, maxTokens, topLogprobs);
  const streamOpts = checkStreamOptions(r);
  const toolCalls = checkTools(r.tools, r.tool_choice);
  const text = render(ctx, messages, r);
  const prompt = ctx.tokenizer.encode(text, { addSpecial: false });
  if (prompt.length === 0) throw badRequest('messages', 'the rendered prompt is empty');
  return {
    ...streamOpts,
    ...buildRequests(ctx, id, [prompt], common, 'messages'),
    parser: { reasoning: true, startInReasoning: promptOpensReasoning(text), toolCalls },
    logprobs: topLogprobs !== undefined,
  };
}
