/**
 * Executes a `StepPlan` against a model. Owns the sequence state of every request it has seen (created at its
 * first prefill chunk, or adopted when transferred in) until the request is freed or its state is taken out.
 *
 * Each item is its own forward call over its own sequence: the batch is a list of per-sequence forwards, so a
 * request's numbers never depend on what else is in the step. Fusing the step into cross-sequence batched
 * matmuls (one weight pass for all rows) is a backend concern, left to the fast-kernel issue; the plan already
 * carries everything such a backend needs.
 */
import { TandemError } from '../errors.js';
import { forward, newState, type Model } from '../model/nemotron-h.js';
import type { SequenceState } from '../model/state.js';
import type { PlanItem, StepPlan } from './scheduler.js';

/** The outcome of one plan item: last-token logits [V] when the item needs sampling, or the error it raised. */
export type ItemOutput =
  | { readonly ok: true; readonly logits: Float32Array | undefined }
  | { readonly ok: false; readonly error: unknown };

export class Runner {
  readonly model: Model;
  readonly #states = new Map<string, SequenceState>();
  readonly #beforeLast: ((id: string, state: SequenceState) => void) | undefined;

  /**
   * `beforeLast`: called with the state after all prompt tokens but the last (the context cache's snapshot point
   * for identical resends); the last chunk is then run as two forwards, which gives the same numbers.
   */
  constructor(model: Model, beforeLast?: (id: string, state: SequenceState) => void) {
    this.model = model;
    this.#beforeLast = beforeLast;
  }

  /** Sequence states alive (the leak check). */
  get liveStates(): number {
    return this.#states.size;
  }

  /** Tokens in the request's state (its next position), or undefined when it has none. */
  position(id: string): number | undefined {
    return this.#states.get(id)?.tokens.length;
  }

  /** Take ownership of a transferred state for request `id`. */
  adopt(id: string, state: SequenceState): void {
    if (state.model !== this.model.fingerprint) throw new TandemError('BAD_STATE', `the state for request ${id} belongs to another model`);
    if (this.#states.has(id)) throw new Error(`request ${id} already has a state`);
    this.#states.set(id, state);
  }

  /** The live state of `id`, for reading only (cache snapshots serialize a copy). */
  peek(id: string): SequenceState | undefined {
    return this.#states.get(id);
  }

  /** Hand the state of `id` out (ownership moves to the caller). */
  take(id: string): SequenceState | undefined {
    const s = this.#states.get(id);
    this.#states.delete(id);
    return s;
  }

  /** Drop the state of `id` (finished or cancelled request). */
  free(id: string): void {
    this.#states.delete(id);
  }

  /** One output per plan item, in plan order. An item that throws fails alone. */
  execute(plan: StepPlan): ItemOutput[] {
    return plan.items.map((item) => {
      try {
        return { ok: true, logits: this.#run(item) };
      } catch (error) {
        return { ok: false, error };
      }
    });
  }

  #run(item: PlanItem): Float32Array | undefined {
    let state = this.#states.get(item.id);
    if (item.kind === 'decode') {
      if (!state) throw new Error(`decode for request ${item.id}, which has no state`);
      return forward(this.model, state, [item.token]);
    }
    if (!state) {
      state = newState(this.model);
      this.#states.set(item.id, state);
    }
    if (item.last && this.#beforeLast && item.tokens.length > 1) {
      forward(this.model, state, item.tokens.slice(0, -1));
      this.#beforeLast(item.id, state);
      return forward(this.model, state, item.tokens.slice(-1));
    }
    const logits = forward(this.model, state, item.tokens);
    return item.last ? logits : undefined;
  }
}
