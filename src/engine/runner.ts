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
import type { SnapshotPoint } from './snapshot-points.js';

/** The context cache's view of prefill: where to cut each request's prompt and what to do there. */
export interface SnapshotHooks {
  points(id: string): readonly SnapshotPoint[] | undefined;
  snapshot(id: string, reason: SnapshotPoint['reason']): void;
}

/** The outcome of one plan item: last-token logits [V] when the item needs sampling, or the error it raised. */
export type ItemOutput =
  | { readonly ok: true; readonly logits: Float32Array | undefined }
  | { readonly ok: false; readonly error: unknown };

export class Runner {
  readonly model: Model;
  readonly #states = new Map<string, SequenceState>();
  readonly #hooks: SnapshotHooks | undefined;

  /**
   * `hooks`: the context cache's snapshot points; a prefill chunk containing one is run as several forwards cut
   * there (the same numbers up to summation order), with `snapshot` called at each cut.
   */
  constructor(model: Model, hooks?: SnapshotHooks) {
    this.model = model;
    this.#hooks = hooks;
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
    const pos0 = state.tokens.length;
    let done = 0;
    let logits: Float32Array | undefined;
    for (const p of this.#hooks?.points(item.id) ?? []) {
      const cut = p.position - pos0;
      if (cut <= done || cut > item.tokens.length) continue;
      logits = forward(this.model, state, item.tokens.slice(done, cut));
      done = cut;
      this.#hooks?.snapshot(item.id, p.reason);
    }
    if (done < item.tokens.length) logits = forward(this.model, state, done === 0 ? item.tokens : item.tokens.slice(done));
    return item.last ? logits : undefined;
  }
}
