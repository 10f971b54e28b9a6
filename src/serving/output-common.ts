/** Pieces both endpoints' responses share: usage, logprob formatting, SSE framing. */
import type { TokenLogprob, Usage } from '../engine/service.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import { ApiError } from './api-error.js';
import type { ChatTokenLogprob, TopLogprob } from './protocol/chat-completion.js';
import type { ApiUsage } from './protocol/common.js';
import type { CompletionLogprobs } from './protocol/completion.js';

/** Usage over all choices: each prompt's tokens count once (as OpenAI counts n > 1), completions add up. */
export class UsageTally {
  readonly #prompts = new Map<number, Usage>();
  #completion = 0;

  add(prompt: number, usage: Usage): void {
    if (!this.#prompts.has(prompt)) this.#prompts.set(prompt, usage);
    this.#completion += usage.completionTokens;
  }

  toApi(): ApiUsage {
    let prompt = 0;
    let cached = 0;
    for (const u of this.#prompts.values()) {
      prompt += u.promptTokens;
      cached += u.cachedTokens;
    }
    return { prompt_tokens: prompt, completion_tokens: this.#completion, total_tokens: prompt + this.#completion, prompt_tokens_details: { cached_tokens: cached } };
  }
}

const utf8 = new TextEncoder();

function top(tok: TextTokenizer, token: number, logprob: number): TopLogprob {
  const text = tok.decode([token]);
  return { token: text, logprob, bytes: [...utf8.encode(text)] };
}

export function chatLogprobs(tok: TextTokenizer, lps: readonly TokenLogprob[]): ChatTokenLogprob[] {
  return lps.map((lp) => ({ ...top(tok, lp.token, lp.logprob), top_logprobs: lp.top.map((t) => top(tok, t.token, t.logprob)) }));
}

/** Legacy completions logprobs; `text_offset` continues across the chunks of one choice. */
export class CompletionLogprobsBuilder {
  #offset = 0;

  constructor(private readonly tok: TextTokenizer) {}

  build(lps: readonly TokenLogprob[]): CompletionLogprobs {
    const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const lp of lps) {
      const text = this.tok.decode([lp.token]);
      out.tokens.push(text);
      out.token_logprobs.push(lp.logprob);
      out.top_logprobs.push(Object.fromEntries(lp.top.map((t) => [this.tok.decode([t.token]), t.logprob])));
      out.text_offset.push(this.#offset);
      this.#offset += text.length;
    }
    return out;
  }
}

export function sseData(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

export const SSE_DONE = 'data: [DONE]\n\n';

/**
 * A `text/event-stream` response over `chunks`. When the client goes away the body is cancelled: `onCancel` aborts
 * the service requests (SERVE.9) and the generator is closed.
 */
export function sseResponse(chunks: AsyncGenerator<string>, onCancel: () => void): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const r = await chunks.next();
        if (r.done) ctrl.close();
        else ctrl.enqueue(enc.encode(r.value));
      } catch (e) {
        onCancel();
        ctrl.error(e);
      }
    },
    async cancel() {
      onCancel();
      await chunks.return(undefined);
    },
  });
  return new Response(body, {
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
  });
}

/** A non-streamed choice that ended in an `error` part, or without `finish` (aborted), fails the whole response. */
export function choiceFailure(part: { status: number; code: string; message: string } | undefined): ApiError {
  if (part === undefined) return new ApiError(499, 'client_closed_request', 'the request was cancelled before it finished');
  return new ApiError(part.status, part.code, part.message);
}

/**
 * Collect every choice of a non-streaming response; if one fails, `onFailure` (abort the others) runs and the error
 * propagates. Usage sums the completion tokens of all choices and each prompt once.
 */
export async function collectChoices<P, C>(
  parts: readonly AsyncIterable<P>[],
  promptOf: readonly number[],
  onFailure: () => void,
  collect: (index: number, parts: AsyncIterable<P>) => Promise<{ readonly choice: C; readonly usage: Usage }>,
): Promise<{ choices: C[]; usage: ApiUsage }> {
  let collected: { readonly choice: C; readonly usage: Usage }[];
  try {
    collected = await Promise.all(parts.map((p, i) => collect(i, p)));
  } catch (e) {
    onFailure();
    throw e;
  }
  const usage = new UsageTally();
  collected.forEach((c, i) => usage.add(promptOf[i]!, c.usage));
  return { choices: collected.map((c) => c.choice), usage: usage.toApi() };
}
