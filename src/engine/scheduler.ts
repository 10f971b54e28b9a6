/**
 * The continuous-batching scheduler (STYLE P11; serving spec §2.2): pure bookkeeping, no model, no numerics.
 *
 * Lifecycle of a request: waiting → prefilling → decoding → finished (removed). `schedule()` emits a plain,
 * JSON-serializable `StepPlan`; a runner executes it; `commit(plan, results)` applies the outcome of each item.
 *
 * Each step has a token budget (`maxStepTokens`, like vLLM's `max_num_batched_tokens`), spent in this order:
 *   1. one decode item for every decoding request (at most `maxRunning` of them, so decodes always fit);
 *   2. a prefill chunk for every prefilling request, in admission order, cut to what is left of the budget
 *      (chunked prefill: a long prompt is split over several steps and interleaved with the decodes);
 *   3. admission of waiting requests (FIFO) while a running slot and some budget are free; each admitted request
 *      gets its first chunk (or, when resumed from a transferred state, its first decode) in the same step.
 * The waiting queue is bounded (`maxWaiting`): `add` throws `ServiceFullError` when it is full (HTTP 429).
 * `cancel(id)` removes a request in any phase at once.
 */
import { TandemError } from '../errors.js';
import { ServiceFullError } from './service.js';

export type PlanItem =
  /** Run `tokens` (a chunk of the prompt) through the request's state; `last`: the chunk ends the prompt. */
  | { readonly kind: 'prefill'; readonly id: string; readonly tokens: number[]; readonly last: boolean }
  /** Run the one token sampled last step. */
  | { readonly kind: 'decode'; readonly id: string; readonly token: number };

/** One engine step's work; plain data (it survives JSON.stringify → JSON.parse unchanged). */
export interface StepPlan {
  readonly step: number;
  readonly items: PlanItem[];
}

/** What became of one plan item, as told to `commit`; plain data. Exactly one per item. */
export type StepResult =
  /** A prefill chunk that is not the last one ran. */
  | { readonly kind: 'progress'; readonly id: string }
  /** A token was sampled from the item's logits: decode it next step. */
  | { readonly kind: 'next'; readonly id: string; readonly token: number }
  /** The request is done here (finished, failed, or handed off): it leaves the scheduler. */
  | { readonly kind: 'finished'; readonly id: string };

export type Phase = 'waiting' | 'prefilling' | 'decoding';

export interface SchedulerOptions {
  /** Requests admitted (prefilling + decoding) at once; default 16. */
  readonly maxRunning?: number;
  /** Requests queued for admission; default 64. Beyond it `add` throws `ServiceFullError`. */
  readonly maxWaiting?: number;
  /** Tokens per step (decodes + prefill chunks); default 256; must be ≥ maxRunning. */
  readonly maxStepTokens?: number;
  /** Retry-After sent with `ServiceFullError`; default 1 s. */
  readonly retryAfterSeconds?: number;
}

interface Entry {
  readonly id: string;
  readonly prompt: readonly number[];
  phase: Phase;
  /** Prompt tokens scheduled and committed so far. */
  cursor: number;
  /** The token to decode next (decoding phase, or a resumed request still waiting). */
  next: number | undefined;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new TandemError('BAD_ARGUMENT', `scheduler option ${name} must be an integer >= 1, got ${v}`);
  return v;
}

export class Scheduler {
  readonly maxRunning: number;
  readonly maxWaiting: number;
  readonly maxStepTokens: number;
  readonly retryAfterSeconds: number;
  readonly #waiting: Entry[] = [];
  /** Admitted requests in admission order. */
  readonly #running: Entry[] = [];
  readonly #byId = new Map<string, Entry>();
  #step = 0;

  constructor(opts: SchedulerOptions = {}) {
    this.maxRunning = positiveInt('maxRunning', opts.maxRunning ?? 16);
    this.maxWaiting = positiveInt('maxWaiting', opts.maxWaiting ?? 64);
    this.maxStepTokens = positiveInt('maxStepTokens', opts.maxStepTokens ?? 256);
    this.retryAfterSeconds = opts.retryAfterSeconds ?? 1;
    if (this.maxStepTokens < this.maxRunning) {
      throw new TandemError('BAD_ARGUMENT', `maxStepTokens (${this.maxStepTokens}) must be >= maxRunning (${this.maxRunning}) so every decode fits in a step`);
    }
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  get running(): number {
    return this.#running.length;
  }

  get hasWork(): boolean {
    return this.#byId.size > 0;
  }

  phase(id: string): Phase | undefined {
    return this.#byId.get(id)?.phase;
  }

  /** Ids of the admitted requests, in admission order. */
  runningIds(): string[] {
    return this.#running.map((e) => e.id);
  }

  /** Throws `ServiceFullError` when a new request would not fit in the waiting queue. */
  assertCanAdmit(): void {
    if (this.#waiting.length >= this.maxWaiting) throw new ServiceFullError(this.retryAfterSeconds);
  }

  /** Queue a request whose `prompt` must be prefilled. */
  add(id: string, prompt: readonly number[]): void {
    if (prompt.length === 0) throw new TandemError('BAD_INPUT', `request ${id}: the prompt is empty`);
    this.#enqueue({ id, prompt, phase: 'waiting', cursor: 0, next: undefined });
  }

  /** Queue a request whose prompt is already in its (transferred) state: it only decodes, starting with `token`. */
  addResumed(id: string, token: number): void {
    this.#enqueue({ id, prompt: [], phase: 'waiting', cursor: 0, next: token });
  }

  /** Remove a request in any phase; returns whether it was known. */
  cancel(id: string): boolean {
    const e = this.#byId.get(id);
    if (!e) return false;
    this.#byId.delete(id);
    const list = e.phase === 'waiting' ? this.#waiting : this.#running;
    list.splice(list.indexOf(e), 1);
    return true;
  }

  /** The next step's plan. One plan at a time: commit it (or cancel its requests) before scheduling again. */
  schedule(): StepPlan {
    const items: PlanItem[] = [];
    let budget = this.maxStepTokens;
    for (const e of this.#running) {
      if (e.phase === 'decoding' && e.next !== undefined) {
        items.push({ kind: 'decode', id: e.id, token: e.next });
        budget--;
      }
    }
    for (const e of this.#running) if (e.phase === 'prefilling' && budget > 0) budget -= this.#chunk(e, budget, items);
    while (budget > 0 && this.#running.length < this.maxRunning && this.#waiting.length > 0) {
      const e = this.#waiting.shift()!;
      this.#running.push(e);
      if (e.cursor < e.prompt.length) {
        e.phase = 'prefilling';
        budget -= this.#chunk(e, budget, items);
      } else {
        e.phase = 'decoding';
        items.push({ kind: 'decode', id: e.id, token: e.next! });
        budget--;
      }
    }
    return { step: this.#step++, items };
  }

  /** Apply the results of an executed plan (one per item; results of cancelled requests are ignored). */
  commit(plan: StepPlan, results: readonly StepResult[]): void {
    const byId = new Map(results.map((r) => [r.id, r]));
    for (const item of plan.items) {
      const e = this.#byId.get(item.id);
      if (!e) continue; // cancelled while the step ran
      const r = byId.get(item.id);
      if (!r) throw new Error(`step ${plan.step}: no result for ${item.kind} item of request ${item.id}`);
      if (item.kind === 'prefill') e.cursor += item.tokens.length;
      if (r.kind === 'finished') {
        this.cancel(e.id);
      } else if (r.kind === 'next') {
        e.phase = 'decoding';
        e.next = r.token;
      } else if (item.kind !== 'prefill' || item.last) {
        throw new Error(`step ${plan.step}: request ${item.id} reported progress for a ${item.kind === 'prefill' ? 'last prefill chunk' : 'decode'}; expected next or finished`);
      }
    }
  }

  #enqueue(e: Entry): void {
    if (this.#byId.has(e.id)) throw new Error(`request id ${e.id} is already scheduled`);
    this.assertCanAdmit();
    this.#waiting.push(e);
    this.#byId.set(e.id, e);
  }

  /** Append the next prefill chunk of `e` (at most `budget` tokens); returns its size. */
  #chunk(e: Entry, budget: number, items: PlanItem[]): number {
    const n = Math.min(budget, e.prompt.length - e.cursor);
    const tokens = e.prompt.slice(e.cursor, e.cursor + n);
    items.push({ kind: 'prefill', id: e.id, tokens, last: e.cursor + n === e.prompt.length });
    return n;
  }
}
