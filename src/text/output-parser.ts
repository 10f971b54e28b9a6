/**
 * Streamed model output → text, reasoning and tool calls (SERVE.2 parser choice, SERVE.4 tool-call assembly).
 *
 * Text that could be the start of a tag is held back until it completes the tag or stops matching, as the
 * stop-string matcher does, so a client never sees half of `<TOOLCALL>`. Reasoning (`<think>…</think>`) streams as
 * it comes; a tool-call block is buffered to its closing tag and then parsed whole (tool-call-formats.ts). A block
 * that does not parse, or is cut off by the end of the output, is passed through as text.
 */
import { TOOL_CALL_BLOCKS, type ParsedToolCall } from './tool-call-formats.js';

export type OutputPart =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'reasoning'; readonly text: string }
  | { readonly type: 'tool-call'; readonly call: ParsedToolCall };

export interface OutputParserOptions {
  /** Parse `<think>…</think>` into reasoning. */
  readonly reasoning: boolean;
  /** The prompt ends inside an open `<think>` (Nemotron's generation prompt): output starts as reasoning. */
  readonly startInReasoning?: boolean;
  /** Parse tool-call blocks (only when the request offers tools). */
  readonly toolCalls: boolean;
}

export const THINK_OPEN = '<think>';
export const THINK_CLOSE = '</think>';

type Block = (typeof TOOL_CALL_BLOCKS)[number];

/** Every tag the parser may look for: the server feeds these to it when they arrive as skipped special tokens. */
export const OUTPUT_TAGS: readonly string[] = [THINK_OPEN, THINK_CLOSE, ...TOOL_CALL_BLOCKS.flatMap((b) => [b.open, b.close])];

/** Whether a prompt leaves a `<think>` open, i.e. the model's first tokens are reasoning. */
export function promptOpensReasoning(prompt: string): boolean {
  return prompt.lastIndexOf(THINK_OPEN) > prompt.lastIndexOf(THINK_CLOSE);
}

export class OutputParser {
  readonly #opts: OutputParserOptions;
  #mode: 'text' | 'reasoning' | 'tool';
  #block: Block | undefined;
  #buf = '';
  #calls = 0;

  constructor(opts: OutputParserOptions) {
    this.#opts = opts;
    this.#mode = opts.reasoning && opts.startInReasoning ? 'reasoning' : 'text';
  }

  /** Tool calls parsed so far. */
  get toolCalls(): number {
    return this.#calls;
  }

  push(text: string): OutputPart[] {
    this.#buf += text;
    const out: OutputPart[] = [];
    while (this.#step(out));
    return out;
  }

  /** End of output: releases everything held; an unterminated tool-call block becomes text. */
  flush(): OutputPart[] {
    const out: OutputPart[] = [];
    const held = this.#buf;
    this.#buf = '';
    if (this.#mode === 'tool') emit(out, 'text', (this.#block?.open ?? '') + held);
    else emit(out, this.#mode, held);
    this.#mode = 'text';
    return out;
  }

  /** Consumes what it can from the buffer; true when it changed mode and should run again. */
  #step(out: OutputPart[]): boolean {
    if (this.#mode === 'tool') return this.#closeTool(out);
    const tags = this.#mode === 'reasoning' ? [THINK_CLOSE] : this.#openTags();
    let at = -1;
    let tag = '';
    for (const t of tags) {
      const i = this.#buf.indexOf(t);
      if (i >= 0 && (at < 0 || i < at)) [at, tag] = [i, t];
    }
    if (at < 0) {
      const keep = partialSuffix(this.#buf, tags);
      emit(out, this.#mode, this.#buf.slice(0, this.#buf.length - keep));
      this.#buf = this.#buf.slice(this.#buf.length - keep);
      return false;
    }
    emit(out, this.#mode, this.#buf.slice(0, at));
    this.#buf = this.#buf.slice(at + tag.length);
    if (this.#mode === 'reasoning') this.#mode = 'text';
    else if (tag === THINK_OPEN) this.#mode = 'reasoning';
    else [this.#mode, this.#block] = ['tool', TOOL_CALL_BLOCKS.find((b) => b.open === tag)];
    return true;
  }

  #openTags(): string[] {
    const tags: string[] = [];
    if (this.#opts.reasoning) tags.push(THINK_OPEN);
    if (this.#opts.toolCalls) tags.push(...TOOL_CALL_BLOCKS.map((b) => b.open));
    return tags;
  }

  #closeTool(out: OutputPart[]): boolean {
    const block = this.#block!;
    const at = this.#buf.indexOf(block.close);
    if (at < 0) return false;
    const body = this.#buf.slice(0, at);
    this.#buf = this.#buf.slice(at + block.close.length);
    this.#mode = 'text';
    const calls = block.parse(body);
    if (calls === undefined) emit(out, 'text', block.open + body + block.close);
    else for (const call of calls) out.push({ type: 'tool-call', call });
    this.#calls += calls?.length ?? 0;
    return true;
  }
}

function emit(out: OutputPart[], type: 'text' | 'reasoning', text: string): void {
  if (text.length > 0) out.push({ type, text });
}

/** Length of the longest suffix of `buf` that is a proper prefix of one of `tags`. */
function partialSuffix(buf: string, tags: readonly string[]): number {
  let longest = 0;
  for (const t of tags) {
    for (let n = Math.min(t.length - 1, buf.length); n > longest; n--) {
      if (buf.endsWith(t.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}
