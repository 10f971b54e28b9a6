/**
 * UTF-8-safe incremental detokenization (SERVE.6).
 *
 * Byte-level BPE tokens can end in the middle of a multi-byte UTF-8 character; decoding such a prefix yields
 * U+FFFD, which a later token would have completed. As in HF text-generation-inference and vLLM, keep two
 * offsets into the generated ids: text up to `read` has been emitted; `prefix..read` is a short window kept
 * as decoding context. On each new id decode `prefix..read` and `prefix..end`; emit the difference only when
 * the longer text does not end in U+FFFD, then slide the window forward.
 */
import type { TextTokenizer } from './tokenizer.js';

const REPLACEMENT = '\uFFFD';

export class IncrementalDetokenizer {
  readonly #tok: TextTokenizer;
  readonly #skipSpecial: boolean;
  /** Ids from the start of the context window; everything before it has been emitted and dropped. */
  #ids: number[] = [];
  /** Ids `[0, #read)` have been emitted; `[0, #read)` is also the context window. */
  #read = 0;

  constructor(tok: TextTokenizer, opts: { skipSpecial?: boolean } = {}) {
    this.#tok = tok;
    this.#skipSpecial = opts.skipSpecial ?? false;
  }

  /** Adds one generated id; returns the text it completes (often '', never a partial character). */
  push(id: number): string {
    this.#ids.push(id);
    const before = this.#decode(this.#ids.slice(0, this.#read));
    const after = this.#decode(this.#ids);
    if (after.length <= before.length || after.endsWith(REPLACEMENT)) return '';
    this.#ids = this.#ids.slice(this.#read);
    this.#read = this.#ids.length;
    return after.slice(before.length);
  }

  /** Returns whatever is still held back (a truncated character decodes as U+FFFD) and resets. */
  flush(): string {
    const before = this.#decode(this.#ids.slice(0, this.#read));
    const after = this.#decode(this.#ids);
    this.#ids = [];
    this.#read = 0;
    return after.length > before.length ? after.slice(before.length) : '';
  }

  #decode(ids: readonly number[]): string {
    return this.#tok.decode(ids, { skipSpecial: this.#skipSpecial });
  }
}
