import type { Cell, QueryResult } from '../../src/query/result.js';
import type { PlaintextAnswer } from './answer.js';

/** How a differentially private result compares with the exact answer: per aggregate cell, inside its interval or not. */
export interface IntervalCheck {
  /** Aggregate cells of groups both answers released. */
  readonly cells: number;
  /** Of those, how many hold the exact value within their stated interval. */
  readonly within: number;
  /** Per result row (null for a group the exact answer does not release), per column: inside, outside, or not an aggregate. */
  readonly verdicts: readonly ((boolean | null)[] | null)[];
  /** Groups one answer releases and the other does not: noisy counts decide at the threshold. */
  readonly onlyExact: number;
  readonly onlyNoisy: number;
}

export function checkIntervals(result: QueryResult, answer: PlaintextAnswer): IntervalCheck {
  const privacy = result.privacy;
  if (!privacy) throw new Error('checkIntervals: the result is not differentially private');
  const dims = answer.outputs.flatMap((k, i) => (k === 'dimension' ? [i] : []));
  const labelsOf = (row: readonly Cell[]) => JSON.stringify(dims.map((i) => row[i]));
  const exact = new Map(answer.rows.map((r) => [labelsOf(r), r]));
  let cells = 0;
  let within = 0;
  const verdicts = result.rows.map((row, r) => {
    const truth = exact.get(labelsOf(row));
    if (!truth) return null;
    return answer.outputs.map((kind, c) => {
      if (kind === 'dimension') return null;
      const interval = privacy.intervals[r]![c];
      const t = truth[c];
      cells += 1;
      // A NULL on either side (no value, or a noisy non-null count at or below zero) is outside: it says nothing.
      const ok = interval != null && t !== null && t !== undefined && Number(interval[0]) <= Number(t) && Number(t) <= Number(interval[1]);
      if (ok) within += 1;
      return ok;
    });
  });
  const noisy = new Set(result.rows.map(labelsOf));
  return { cells, within, verdicts, onlyExact: [...exact.keys()].filter((k) => !noisy.has(k)).length, onlyNoisy: result.rows.filter((r) => !exact.has(labelsOf(r))).length };
}
