/**
 * A small push queue read as an async iterator (one consumer). The engine pushes events as steps produce them;
 * the consumer's `for await` drains them and ends after `end()`. A consumer that stops early (`break`, `return()`)
 * calls `onCancel`, so a request nobody reads any more is cancelled instead of decoding on.
 */
export class EventStream<T> implements AsyncIterable<T> {
  readonly #buffer: T[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  #onCancel: (() => void) | undefined;

  constructor(onCancel?: () => void) {
    this.#onCancel = onCancel;
  }

  get ended(): boolean {
    return this.#ended;
  }

  push(value: T): void {
    if (this.#ended) return;
    this.#buffer.push(value);
    this.#signal();
  }

  /** No more values; the iterator finishes once the buffer is drained. */
  end(): void {
    this.#ended = true;
    this.#onCancel = undefined;
    this.#signal();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: async (): Promise<IteratorResult<T>> => {
        while (this.#buffer.length === 0 && !this.#ended) await new Promise<void>((resolve) => (this.#wake = resolve));
        if (this.#buffer.length > 0) return { done: false, value: this.#buffer.shift()! };
        return { done: true, value: undefined };
      },
      return: async (): Promise<IteratorResult<T>> => {
        const cancel = this.#onCancel;
        this.#buffer.length = 0;
        this.end();
        cancel?.();
        return { done: true, value: undefined };
      },
    };
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
