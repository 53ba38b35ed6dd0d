import { describe, expect, it } from 'vitest';
import { MAX_GROUP_WIDTH, MAX_SUM_COLUMNS, MIN_GROUP_WIDTH } from '../../src/limits.js';
import {
  KEYS,
  ROWS,
  countOnlyVector,
  groupWidth,
  outputSlots,
  releasedSlots,
  slotIndex,
  slots,
  vectorSelectSql,
} from '../../src/query/group-vector.js';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, buildCollaboration, plan } from '../support/collaboration.js';

/**
 * The per-group vector's layout (src/query/group-vector.ts) is part of the wire format: [rows, distinct keys, (sum,
 * non-null count) per summed column]. These pin it, so that a refactor cannot move a slot unnoticed.
 */
describe('the group vector', () => {
  it('lays out rows, keys, then (sum, non-null count) per summed column', () => {
    expect(slots({ sumColumns: ['a', 'b'] })).toEqual([
      { kind: 'rows' },
      { kind: 'keys' },
      { kind: 'sum', column: 'a' },
      { kind: 'non-null', column: 'a' },
      { kind: 'sum', column: 'b' },
      { kind: 'non-null', column: 'b' },
    ]);
    expect([ROWS, KEYS]).toEqual([0, 1]);
    expect(slotIndex({ sumColumns: ['a', 'b'] }, { kind: 'non-null', column: 'b' })).toBe(5);
    expect(groupWidth({ sumColumns: [] })).toBe(MIN_GROUP_WIDTH);
    expect(groupWidth({ sumColumns: Array.from({ length: MAX_SUM_COLUMNS }, (_, i) => `c${i}`) })).toBe(MAX_GROUP_WIDTH);
    expect(countOnlyVector(7n)).toEqual([7n, 7n]);
  });

  it('is filled by one select list, slot by slot, and read by each output from its slots', async () => {
    const { manifest } = buildCollaboration();
    const agg = await plan(AGG_SQL, manifest, ADVERTISER);
    expect(vectorSelectSql(agg.aggregator.table, agg, 'nk', (n) => `"${n}"`)).toEqual([
      'count(*)',
      'count(DISTINCT nk)',
      'CAST(coalesce(sum(CAST("amount" * 100 AS HUGEINT)), 0) AS HUGEINT)',
      'count("amount")',
    ]);
    const reads = agg.outputs.flatMap((o) => (o.kind === 'aggregate' ? [outputSlots(agg, o.aggregate)] : []));
    expect(reads.map((r) => (r.fn === 'count' ? [r.count] : [r.sum, r.nonNull]))).toEqual([[ROWS], [2, 3], [2, 3]]);
    expect(releasedSlots(agg)).toEqual([ROWS, 2, 3]);
    const count = await plan(COUNT_SQL, manifest, PUBLISHER);
    expect(releasedSlots(count)).toEqual([KEYS]);
  });
});
