import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

/**
 * SPEC §4.2.1 between two real nodes, one on each backend: with `verify` in the manifest the partner's proofs are made
 * and checked on the worker pools, and the answer is the one the unverified protocol gives.
 */
const tables: Table[] = [
  {
    name: 'left_t',
    owner: 'lefty',
    columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string' }, { name: 'v', type: 'integer', min: 0, max: 1000 }],
    joinKey: { column: 'k', normalization: 'email' },
    rules: { aggregations: [{ column: 'v', functions: ['sum'] }], dimensions: ['g'], minDistinctKeys: 5, overlapDisclosure: [] },
  },
  {
    name: 'right_t',
    owner: 'righty',
    columns: [{ name: 'k', type: 'string' }],
    joinKey: { column: 'k', normalization: 'email' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 5, overlapDisclosure: ['lefty'] },
  },
];

describe('verified re-blinding between a noble-backend and a sodium-backend node', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const tmp = await makeTempDir('verified');
    cleanup = tmp.cleanup;
    const left = join(tmp.dir, 'left.csv');
    const right = join(tmp.dir, 'right.csv');
    writeFileSync(left, 'k,g,v\n' + Array.from({ length: 150 }, (_, i) => `u${i}@x.org,g${i % 3},${i}`).join('\n') + '\n');
    writeFileSync(right, 'k\n' + Array.from({ length: 150 }, (_, i) => `u${i + 100}@x.org`).join('\n') + '\n');
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'verified',
      members: [
        { id: 'lefty', name: 'Left', tables: { left_t: { path: left, format: 'csv' } }, backend: 'noble' },
        { id: 'righty', name: 'Right', tables: { right_t: { path: right, format: 'csv' } }, backend: 'sodium' },
      ],
      tables,
      queriers: ['lefty'],
      receivers: ['lefty'],
      verify: true,
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('gives the exact aggregates, and both audit logs record a result or a release', async () => {
    const expected = [0, 1, 2].map((g) => {
      const is = Array.from({ length: 50 }, (_, j) => 100 + j).filter((i) => i % 3 === g);
      return [`g${g}`, is.length, String(is.reduce((a, b) => a + b, 0))];
    });
    const answer = await query(cluster.nodeDirs.lefty!, 'SELECT l.g, COUNT(*), SUM(l.v) FROM left_t l JOIN right_t r ON l.k = r.k GROUP BY l.g');
    expect(answer).toMatchObject({ kind: 'result', result: { rows: expected } });
    const events = (member: string) => readFileSync(join(cluster.nodeDirs[member]!, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events('lefty')).toContain('result');
    expect(events('lefty')).not.toContain('failed');
    expect(events('righty')).not.toContain('failed');
  });
});
