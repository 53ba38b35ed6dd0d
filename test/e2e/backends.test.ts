import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

/**
 * The pure-JS backend is the fallback wherever libsodium cannot load: a node on it must interoperate with a node on
 * libsodium (byte-identical group operations), with its worker pool and hash cache, cold and warm.
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

describe('a noble-backend node and a sodium-backend node', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const tmp = await makeTempDir('backends');
    cleanup = tmp.cleanup;
    // Left: keys 0..149, group i % 3, value i. Right: keys 100..249, written in upper case with spaces.
    const left = join(tmp.dir, 'left.csv');
    const right = join(tmp.dir, 'right.csv');
    writeFileSync(left, 'k,g,v\n' + Array.from({ length: 150 }, (_, i) => `u${i}@x.org,g${i % 3},${i}`).join('\n') + '\n');
    writeFileSync(right, 'k\n' + Array.from({ length: 150 }, (_, i) => `" U${i + 100}@X.ORG "`).join('\n') + '\n');
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'backends',
      members: [
        { id: 'lefty', name: 'Left', tables: { left_t: { path: left, format: 'csv' } }, backend: 'noble' },
        { id: 'righty', name: 'Right', tables: { right_t: { path: right, format: 'csv' } }, backend: 'sodium' },
      ],
      tables,
      queriers: ['lefty'],
      receivers: ['lefty'],
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('agree on the intersection and the aggregates, cold and warm', async () => {
    // Keys 100..149 match: 50 of them; group g0 holds i % 3 = 0.
    const expected = [0, 1, 2].map((g) => {
      const is = Array.from({ length: 50 }, (_, j) => 100 + j).filter((i) => i % 3 === g);
      return [`g${g}`, is.length, String(is.reduce((a, b) => a + b, 0))];
    });
    for (let run = 0; run < 2; run++) {
      const answer = await query(cluster.nodeDirs.lefty!, 'SELECT l.g, COUNT(*), SUM(l.v) FROM left_t l JOIN right_t r ON l.k = r.k GROUP BY l.g');
      expect(answer).toMatchObject({ kind: 'result', result: { rows: expected } });
    }
    const count = await query(cluster.nodeDirs.lefty!, 'SELECT COUNT(*) FROM left_t l JOIN right_t r ON l.k = r.k');
    expect(count).toMatchObject({ kind: 'result', result: { rows: [[50]] } });
  });
});
