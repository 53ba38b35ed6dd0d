import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, freePort, query, startNode, type RunningNode } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { assertBuilt, makeTempDir, stopNode } from './helpers.js';

/**
 * A member that works without sending keeps its peers from cutting it off (limits.ts KEEPALIVE_MS). In aggregate
 * mode the partner blinds its whole set before any of it leaves, shuffled; the aggregator, its own set out, hears
 * nothing else meanwhile. Both nodes here run with a silence limit of IDLE_MS, far below that wait: 100,000 keys a
 * side on this machine's cores keep the aggregator waiting several seconds (about 3 s idle, more on a busy machine),
 * which ended the query with TIMEOUT before the keepalive. A keepalive leaves at most every 500 ms while the partner's
 * batches of 4,096 multiplications finish (about 0.3 s each, 0.9 s at 3x slowdown), well inside IDLE_MS.
 */
const KEYS = 100_000;
const IDLE_MS = 2_000;
/** The query of 100k x 100k on 2 busy cores: about 20 s, held at 3x slowdown. */
const QUERY_MS = 90_000;

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
  let dirs: Record<string, string>;
  const nodes: RunningNode[] = [];

  beforeAll(async () => {
    assertBuilt();
    tmp = await makeTempDir('keepalive');
    const key = (i: number) => `p${i}@x.com`;
    const sales = join(tmp.dir, 'sales.csv');
    const audience = join(tmp.dir, 'audience.csv');
    writeFileSync(sales, `k,v\n${Array.from({ length: KEYS }, (_, i) => `${key(i)},${i % 10}`).join('\n')}\n`);
    writeFileSync(audience, `k\n${Array.from({ length: KEYS }, (_, i) => key(i + KEYS / 2)).join('\n')}\n`);
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    ({ nodeDirs: dirs } = await createCluster({
      dir: tmp.dir,
      collaborationId: 'keepalive',
      members: [
        { id: 'alpha', name: 'Alpha', port: ports[0]!, controlPort: ports[1]!, tables: { sales: { path: sales, format: 'csv' } } },
        { id: 'beta', name: 'Beta', port: ports[2]!, controlPort: ports[3]!, tables: { audience: { path: audience, format: 'csv' } } },
      ],
      tables: TABLES,
      queriers: ['alpha'],
      receivers: ['alpha'],
    }));
    for (const d of Object.values(dirs)) {
      const config = join(d, 'config.json');
      writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, 'utf8')), sessionIdleTimeoutMs: IDLE_MS }, null, 2));
    }
    nodes.push(await startNode(dirs.alpha!), await startNode(dirs.beta!));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(nodes.map(stopNode));
    await tmp?.cleanup();
  });

  it(`a query whose aggregator waits longer than its ${IDLE_MS} ms silence limit for the partner's set completes`, async () => {
    const answer = await query(dirs.alpha!, 'SELECT COUNT(*), SUM(s.v) FROM sales s JOIN audience a ON s.k = a.k');
    expect(answer).toMatchObject({ kind: 'result' });
    if (answer.kind !== 'result') return;
    // Keys KEYS/2 .. KEYS-1 match; their values i mod 10 sum to 4.5 per key.
    expect(answer.result.rows).toEqual([[KEYS / 2, String((KEYS / 2) * 4.5)]]);
  }, QUERY_MS);
});
