import type { Cell } from '../query/result.js';
import { CleanroomError } from '../errors.js';
import { MAX_FRAME_BYTES } from '../limits.js';
import type { QueryPlan } from '../query/plan.js';

/** Groups whose distinct-key count meets the strictest minimum-count rule: the only ones ever opened. */
export function survivingGroups(keyCounts: readonly bigint[], plan: QueryPlan): number[] {
  const min = BigInt(plan.minDistinctKeys);
  return keyCounts.flatMap((n, i) => (n >= min ? [i] : []));
}

/**
 * The labels of all groups must fit one `labels` frame (msgpack: a few bytes per value beyond its text). Checked
 * before anything is shared, so that every receiver gets the result or none does.
 */
export function assertLabelsFit(labels: readonly (readonly Cell[])[]): void {
  let bytes = 16;
  for (const row of labels) {
    bytes += 3;
    for (const l of row) bytes += typeof l === 'string' ? Buffer.byteLength(l) + 5 : 9;
  }
  if (bytes > MAX_FRAME_BYTES - 1024) {
    throw new CleanroomError('LIMIT_EXCEEDED', `the labels of ${labels.length} groups take about ${bytes} bytes, more than one ${MAX_FRAME_BYTES}-byte frame; group by fewer or shorter values`);
  }
}

