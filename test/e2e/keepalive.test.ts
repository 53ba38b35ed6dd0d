import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

/**
 * A member that works without sending keeps its peers from cutting it off (limits.ts KEEPALIVE_MS): here the partner
 * hashes the keys its cache lacks before its first batch (its set then streams as it is blinded, SPEC §4.2 step 1),
 * and the aggregator, its own small set out, hears nothing else meanwhile. The aggregator holds 10,000 keys and the
 * partner 300,000: the partner works for about 15 s on two idle cores while the aggregator waits, beyond the silence limit IDLE_MS both nodes run
 * with, which ended the query with TIMEOUT before the keepalive. A keepalive leaves at most every 500 ms while the
 * partner's batches (2,048 hashes or 4,096 multiplications, about 0.3 s each, 0.9 s at 3x slowdown) finish; the
 * longest stretch without either, DuckDB reading a table (itself counted as progress), stays far below IDLE_MS at 3x
 * slowdown; 4 s was not enough next to a 10M benchmark run (more than 3x).
 */
const OWN_KEYS = 10_000;
const PARTNER_KEYS = 300_000;
const IDLE_MS = 8_000;
/** The query on 2 cores: about 20 s, held at 3x slowdown. */
const QUERY_MS = 120_000;

const TABLES: Table[] = [
  {
    name: 'sales',
    owner: 'alpha',
    columns: [{ name: 'k', type: 'string' }, { name: 'v', type: 'integer', min: 0, max: 1000 }],
    joinKey: { column: 'k', normalization: 'email' },
    rules: { aggregations: [{ column: 'v', functions: ['sum'] }], dimensions: [], minDistinctKeys: 10, overlapDisclosure: [] },
  },
  {
    name: 'audience',
    owner: 'beta',
    columns: [{ name: 'k', type: 'string' }],
    joinKey: { column: 'k', normalization: 'email' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 10, overlapDisclosure: ['alpha'] },
  },
];

describe('keepalive', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  let cluster: Cluster;

  beforeAll(async () => {
    tmp = await makeTempDir('keepalive');
    const key = (i: number) => `p${i}@x.com`;
    const sales = join(tmp.dir, 'sales.csv');
    const audience = join(tmp.dir, 'audience.csv');
    writeFileSync(sales, `k,v\n${Array.from({ length: OWN_KEYS }, (_, i) => `${key(i)},${i % 10}`).join('\n')}\n`);
    writeFileSync(audience, `k\n${Array.from({ length: PARTNER_KEYS }, (_, i) => key(i)).join('\n')}\n`);
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'keepalive',
      members: [
        { id: 'alpha', name: 'Alpha', tables: { sales: { path: sales, format: 'csv' } } },
        { id: 'beta', name: 'Beta', tables: { audience: { path: audience, format: 'csv' } } },
      ],
      tables: TABLES,
      queriers: ['alpha'],
      receivers: ['alpha'],
      config: { sessionIdleTimeoutMs: IDLE_MS },
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it(`a query whose aggregator waits longer than its ${IDLE_MS} ms silence limit for the partner's set completes`, async () => {
    const answer = await query(cluster.nodeDirs.alpha!, 'SELECT COUNT(*), SUM(s.v) FROM sales s JOIN audience a ON s.k = a.k');
    expect(answer, JSON.stringify(answer)).toMatchObject({ kind: 'result' });
    if (answer.kind !== 'result') return;
    // Every key of the aggregator's matches; their values i mod 10 sum to 4.5 per key.
    expect(answer.result.rows).toEqual([[OWN_KEYS, String(OWN_KEYS * 4.5)]]);
  }, QUERY_MS);
});
