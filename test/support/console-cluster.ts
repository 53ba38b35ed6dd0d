/**
 * The collaboration of the console's tests: ann and bob, each a real node process. ann owns t_ann (exact answers)
 * and t_ann_dp (a privacy policy, so its budget gauge and DP answers with intervals show), bob owns t_bob. Every
 * table has join key k and dimension g (g0, g1, declared); 300 keys at ann, 240 at bob, so a GROUP BY g over the
 * join has 120 matched keys per group: far above the minimum and the DP release threshold.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Table } from '../../src/manifest/schema.js';
import { startCluster, type Cluster, type MemberSpec } from '../e2e/helpers.js';

export const EXACT_SQL = 'SELECT a.g, COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k GROUP BY a.g';
export const DP_SQL = 'SELECT d.g, COUNT(*), SUM(d.v) FROM t_ann_dp d JOIN t_bob b ON d.k = b.k GROUP BY d.g';
/** v is no dimension of t_ann: the planner refuses to group by it and says what may be grouped by. */
export const REFUSED_SQL = 'SELECT a.v, COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k GROUP BY a.v';
export const MATCHED_PER_GROUP = 120;
export const DP_EPSILON = 2;
export const DP_BUDGET = 10;

const IDS = ['ann', 'bob'] as const;

function table(name: string, owner: string, privacy: boolean): Table {
  return {
    name,
    owner,
    columns: [
      { name: 'k', type: 'string' },
      { name: 'g', type: 'string', values: ['g0', 'g1'] },
      { name: 'v', type: 'integer', min: 0, max: 100 },
    ],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: {
      aggregations: [{ column: 'v', functions: ['sum', 'avg'] }],
      dimensions: ['g'],
      minDistinctKeys: 2,
      overlapDisclosure: IDS.map((member) => ({ member, filters: ['g'] })),
      ...(privacy ? { privacy: { epsilon: DP_EPSILON, delta: 1e-6, maxRowsPerKey: 1, budget: { epsilon: DP_BUDGET, refresh: 'month' as const } } } : {}),
    },
  };
}

function csv(dir: string, name: string, keys: number): string {
  const path = join(dir, `${name}.csv`);
  writeFileSync(path, 'k,g,v\n' + Array.from({ length: keys }, (_, i) => `k${i},g${i % 2},${i % 101}`).join('\n') + '\n');
  return path;
}

export function startConsoleCluster(dir: string, collaborationId: string): Promise<Cluster> {
  const members: MemberSpec[] = [
    { id: 'ann', name: 'Ann Publishing', tables: { t_ann: { path: csv(dir, 't_ann', 300), format: 'csv' as const }, t_ann_dp: { path: csv(dir, 't_ann_dp', 300), format: 'csv' as const } } },
    { id: 'bob', name: 'Bob Retail', tables: { t_bob: { path: csv(dir, 't_bob', 240), format: 'csv' as const } } },
  ];
  const tables = [table('t_ann', 'ann', false), table('t_ann_dp', 'ann', true), table('t_bob', 'bob', false)];
  return startCluster({ dir, collaborationId, members, tables, queriers: ['ann', 'bob'], receivers: ['ann'] });
}
