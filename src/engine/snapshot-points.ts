/**
 * Where the context cache snapshots a prompt's prefill (serving.md §8.5 "place checkpoints deliberately"): the runner
 * cuts the prefill at these absolute positions (a cut gives the same numbers up to summation order) and stores the
 * state there.
 * - `prompt`: one token before the end (an identical resend, or a re-templated last turn, hits at length − 1);
 * - `branch`: the block boundary where this prompt leaves a cached path past its hit (the next request branching at
 *   the same point, e.g. another sub-agent on the same system prompt and tools, restores there);
 * - `grid`: every `SNAPSHOT_GRID` tokens inside long prompts (documents), on absolute positions so every request
 *   over the same prefix places them at the same points.
 * The end-of-turn snapshot (`turn`, all tokens fed) is taken by the engine when a request finishes.
 */
import { SNAPSHOT_GRID } from '../cache/context-cache.js';
import type { SnapshotReason } from '../cache/tier.js';

export interface SnapshotPoint {
  readonly position: number;
  readonly reason: SnapshotReason;
}

/** Points in (start, promptLength − 1], ascending; `start` = tokens restored from the cache. */
export function snapshotPoints(promptLength: number, start: number, branchAt: number | undefined): SnapshotPoint[] {
  const end = promptLength - 1;
  const at = new Map<number, SnapshotReason>();
  for (let g = (Math.floor(start / SNAPSHOT_GRID) + 1) * SNAPSHOT_GRID; g < end; g += SNAPSHOT_GRID) at.set(g, 'grid');
  if (branchAt !== undefined && branchAt > start && branchAt < end) at.set(branchAt, 'branch');
  if (end > start) at.set(end, 'prompt');
  return [...at].sort((a, b) => a[0] - b[0]).map(([position, reason]) => ({ position, reason }));
}
