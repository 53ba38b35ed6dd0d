import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import { MIXED_BACKEND_GROUPS, makeTempDir, startMixedBackendPair, type Cluster } from './helpers.js';

/**
 * SPEC §4.2.1 between two real nodes, one on each backend: with `verify` in the manifest the partner's proofs are made
 * and checked on the worker pools, and the answer is the one the unverified protocol gives.
 */
describe('verified re-blinding between a noble-backend and a sodium-backend node', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const tmp = await makeTempDir('verified');
    cleanup = tmp.cleanup;
    cluster = await startMixedBackendPair(tmp.dir, 'verified', (i) => `u${i}@x.org`, { verify: true });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('gives the exact aggregates, and both audit logs record a result or a release', async () => {
    const answer = await query(cluster.nodeDirs.lefty!, 'SELECT l.g, COUNT(*), SUM(l.v) FROM left_t l JOIN right_t r ON l.k = r.k GROUP BY l.g');
    expect(answer).toMatchObject({ kind: 'result', result: { rows: MIXED_BACKEND_GROUPS } });
    const events = (member: string) => readFileSync(join(cluster.nodeDirs[member]!, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events('lefty')).toContain('result');
    expect(events('lefty')).not.toContain('failed');
    expect(events('righty')).not.toContain('failed');
  });
});
