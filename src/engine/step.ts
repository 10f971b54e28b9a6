/**
 * One engine step (STYLE P11), as in vLLM's `EngineCore.step`: the scheduler plans, the runner executes, the
 * output stage turns raw outputs (logits) into plain results (sampled token, finished), the scheduler commits.
 * Generic over the runner's output type, so it is tested with a mock runner and no model.
 */
import type { Scheduler, StepPlan, StepResult } from './scheduler.js';

/** Thrown when executing or processing a plan failed as a whole; the plan's requests were not committed. */
export class StepFailedError extends Error {
  constructor(readonly plan: StepPlan, override readonly cause: unknown) {
    super(`engine step ${plan.step} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StepFailedError';
  }
}

/** Runs one step; returns its plan (no items: there was nothing to do). */
export function step<O>(
  scheduler: Scheduler,
  execute: (plan: StepPlan) => O,
  process: (plan: StepPlan, outputs: O) => StepResult[],
): StepPlan {
  const plan = scheduler.schedule();
  if (plan.items.length === 0) return plan;
  let results: StepResult[];
  try {
    results = process(plan, execute(plan));
  } catch (e) {
    throw new StepFailedError(plan, e);
  }
  scheduler.commit(plan, results);
  return plan;
}
