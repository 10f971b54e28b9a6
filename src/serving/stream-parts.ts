/**
 * The engine's events → a discriminated union of stream parts (P13). The HTTP layer only maps parts to JSON or SSE
 * chunks. Text goes through the output parser (chat) or straight through (completions); each token's logprobs ride
 * on the next delta part emitted, the rest on `finish`. SERVE.5: the engine's finish reasons become the wire's
 * (`eos` and `stop` → "stop", `length` → "length"; any parsed tool call → "tool_calls").
 */
import { randomBytes } from 'node:crypto';
import type { FinishReason } from '../engine/generate.js';
import type { ServiceEvent, TokenLogprob, Usage } from '../engine/service.js';
import { OUTPUT_TAGS, type OutputParser, type OutputPart } from '../text/output-parser.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import type { ApiFinishReason } from './protocol/common.js';

export type StreamPart =
  | { readonly type: 'text-start' }
  | { readonly type: 'text-delta'; readonly text: string; readonly logprobs: readonly TokenLogprob[] }
  | { readonly type: 'text-end' }
  | { readonly type: 'reasoning-start' }
  | { readonly type: 'reasoning-delta'; readonly text: string; readonly logprobs: readonly TokenLogprob[] }
  | { readonly type: 'reasoning-end' }
  | { readonly type: 'tool-input-start'; readonly index: number; readonly id: string; readonly name: string }
  | { readonly type: 'tool-input-delta'; readonly index: number; readonly delta: string; readonly logprobs: readonly TokenLogprob[] }
  | { readonly type: 'tool-input-end'; readonly index: number }
  | { readonly type: 'tool-call'; readonly index: number; readonly id: string; readonly name: string; readonly arguments: string }
  | { readonly type: 'finish'; readonly reason: ApiFinishReason; readonly usage: Usage; readonly logprobs: readonly TokenLogprob[] }
  | { readonly type: 'error'; readonly status: number; readonly code: string; readonly message: string };

export interface PartsOptions {
  /** Splits text into text / reasoning / tool calls (chat); absent = all text (completions). */
  readonly parser?: OutputParser;
  /**
   * The text a token contributes to the parser beyond its detokenized text: a tag such as `<tool_call>` that is a
   * special token the engine's detokenizer skips.
   */
  readonly tagOf?: (token: number, text: string) => string | undefined;
}

/**
 * `PartsOptions.tagOf` for a tokenizer: the parser's tags (`<think>`, `<tool_call>`, …) that are special tokens, which
 * the engine's detokenizer skips (Nemotron 3), come back as text; a tag already in the token's text is not repeated.
 */
export function specialTagFinder(tok: TextTokenizer): NonNullable<PartsOptions['tagOf']> {
  const cache = new Map<number, string | undefined>();
  return (token, text) => {
    if (!cache.has(token)) {
      const t = tok.isSpecial(token) ? tok.decode([token]) : undefined;
      cache.set(token, t !== undefined && OUTPUT_TAGS.includes(t) ? t : undefined);
    }
    const tag = cache.get(token);
    return tag !== undefined && !text.includes(tag) ? tag : undefined;
  };
}

/** SERVE.5 */
export function apiFinishReason(reason: FinishReason, toolCalls: number): ApiFinishReason {
  if (toolCalls > 0) return 'tool_calls';
  return reason === 'length' ? 'length' : 'stop';
}

export function toolCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`;
}

/** Tracks the open segment so parts come as start, deltas, end; holds logprobs until a delta carries them. */
class PartBuilder {
  #open: 'text' | 'reasoning' | undefined;
  #pending: TokenLogprob[] = [];
  toolCalls = 0;

  logprob(lp: TokenLogprob | undefined): void {
    if (lp !== undefined) this.#pending.push(lp);
  }

  takeLogprobs(): TokenLogprob[] {
    const out = this.#pending;
    this.#pending = [];
    return out;
  }

  *parts(parsed: readonly OutputPart[]): Generator<StreamPart> {
    for (const p of parsed) {
      if (p.type === 'tool-call') {
        yield* this.close();
        const index = this.toolCalls++;
        const id = toolCallId();
        yield { type: 'tool-input-start', index, id, name: p.call.name };
        yield { type: 'tool-input-delta', index, delta: p.call.arguments, logprobs: this.takeLogprobs() };
        yield { type: 'tool-input-end', index };
        yield { type: 'tool-call', index, id, name: p.call.name, arguments: p.call.arguments };
        continue;
      }
      if (this.#open !== p.type) {
        yield* this.close();
        this.#open = p.type;
        yield { type: p.type === 'text' ? 'text-start' : 'reasoning-start' };
      }
      yield { type: p.type === 'text' ? 'text-delta' : 'reasoning-delta', text: p.text, logprobs: this.takeLogprobs() };
    }
  }

  *close(): Generator<StreamPart> {
    if (this.#open === 'text') yield { type: 'text-end' };
    if (this.#open === 'reasoning') yield { type: 'reasoning-end' };
    this.#open = undefined;
  }
}

/** Parts of one choice. Ends after `finish` or `error`, or with the events (an aborted request: no `finish`). */
export async function* toParts(events: AsyncIterable<ServiceEvent>, opts: PartsOptions = {}): AsyncGenerator<StreamPart> {
  const b = new PartBuilder();
  const parser = opts.parser;
  for await (const ev of events) {
    if (ev.type === 'token') {
      b.logprob(ev.logprob);
      const text = (opts.tagOf?.(ev.token, ev.text) ?? '') + ev.text;
      if (text.length > 0) yield* b.parts(parser ? parser.push(text) : [{ type: 'text', text }]);
    } else if (ev.type === 'finish') {
      const tail = ev.text ?? '';
      if (tail.length > 0) yield* b.parts(parser ? parser.push(tail) : [{ type: 'text', text: tail }]);
      if (parser) yield* b.parts(parser.flush());
      yield* b.close();
      yield { type: 'finish', reason: apiFinishReason(ev.reason, b.toolCalls), usage: ev.usage, logprobs: b.takeLogprobs() };
      return;
    } else {
      yield* b.close();
      yield ev;
      return;
    }
  }
}
