/**
 * Stop strings over streamed text. Text that could be the start of a stop string is held back until it
 * either completes the stop string (then everything before it is emitted and the stream is stopped; the
 * stop string itself is not emitted) or stops matching (then it is emitted).
 */
import { TandemError } from '../errors.js';

export class StopMatcher {
  readonly #stops: readonly string[];
  #held = '';
  #stopped = false;

  constructor(stops: readonly string[]) {
    if (stops.some((s) => s.length === 0)) {
      throw new TandemError('BAD_ARGUMENT', 'a stop string is empty; remove it or give at least one character');
    }
    this.#stops = [...stops];
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Feeds the next piece of text; once stopped, every later push emits nothing. */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.#stopped) return { emit: '', stopped: true };
    const buf = this.#held + text;
    const at = this.#firstMatch(buf);
    if (at >= 0) {
      this.#held = '';
      this.#stopped = true;
      return { emit: buf.slice(0, at), stopped: true };
    }
    const keep = this.#partialSuffixLength(buf);
    this.#held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** The end of the stream: releases held text (none once stopped). */
  flush(): string {
    const out = this.#stopped ? '' : this.#held;
    this.#held = '';
    return out;
  }

  /** Index of the earliest complete stop string in `buf`, or -1. */
  #firstMatch(buf: string): number {
    let best = -1;
    for (const s of this.#stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of some stop string. */
  #partialSuffixLength(buf: string): number {
    let longest = 0;
    for (const s of this.#stops) {
      for (let n = Math.min(s.length - 1, buf.length); n > longest; n--) {
        if (buf.endsWith(s.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
