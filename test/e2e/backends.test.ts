import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import { MIXED_BACKEND_GROUPS, makeTempDir, startMixedBackendPair, type Cluster } from './helpers.js';

/**
 * The pure-JS backend is the fallback wherever libsodium cannot load: a node on it must interoperate with a node on
 * libsodium (byte-identical group operations), with its worker pool and hash cache, cold and warm.
 */
describe('a noble-backend node and a sodium-backend node', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const tmp = await makeTempDir('backends');
    cleanup = tmp.cleanup;
    // Right's keys written in upper case with spaces: the email normalisation must make them match on both backends.
    cluster = await startMixedBackendPair(tmp.dir, 'backends', (i) => `" U${i}@X.ORG "`);
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('agree on the intersection and the aggregates, cold and warm', async () => {
    for (let run = 0; run < 2; run++) {
      const answer = await query(cluster.nodeDirs.lefty!, 'SELECT l.g, COUNT(*), SUM(l.v) FROM left_t l JOIN right_t r ON l.k = r.k GROUP BY l.g');
      expect(answer).toMatchObject({ kind: 'result', result: { rows: MIXED_BACKEND_GROUPS } });
    }
    const count = await query(cluster.nodeDirs.lefty!, 'SELECT COUNT(*) FROM left_t l JOIN right_t r ON l.k = r.k');
    expect(count).toMatchObject({ kind: 'result', result: { rows: [[50]] } });
  });
});
