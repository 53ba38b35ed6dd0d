/**
 * A new manifest version reaches running nodes without a restart: two real node processes, a version adding a
 * privacy policy proposed, signed and copied into each node directory while they run. A partly signed version is
 * refused in the log (file, version, who has not signed) and the node serves the old one; while only one node runs
 * the new version a query between them fails naming both versions; once both do, a query is differentially private.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import { cleanroom, makeTempDir, startKeyGroupCluster, type Cluster } from './helpers.js';

const SQL = 'SELECT a.g, COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k GROUP BY a.g';
const POLICY = { epsilon: 5, delta: 1e-6, maxRowsPerKey: 1, budget: { epsilon: 100, refresh: 'never' } };
/** The watch stats the file every MANIFEST_POLL_MS (1 s): a few intervals are plenty. */
const LOAD_WAIT = { timeout: 10_000, interval: 100 };

describe('a new manifest version while the nodes run', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let dir: string;
  let v2: string;
  const logOf = (id: string) => cluster.nodes[id]!.log.join('');
  const manifestOf = (id: string) => join(cluster.nodeDirs[id]!, 'manifest.json');

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('manifest-reload'));
    cluster = await startKeyGroupCluster(dir, 'reload', ['ann', 'bob'], { queriers: ['ann', 'bob'], receivers: ['ann', 'bob'] });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('runs exact queries on v1', async () => {
    expect(await query(cluster.nodeDirs.ann!, SQL)).toMatchObject({ kind: 'result', result: { rows: [['g0', 10], ['g1', 10]] } });
  });

  it('propose writes v2 unsigned, diff and status say what changes and who signed; a partly signed v2 is refused in the log', async () => {
    const signed = JSON.parse(readFileSync(manifestOf('ann'), 'utf8')) as { manifest: { tables: { name: string; rules: Record<string, unknown> }[] } };
    const edited = structuredClone(signed.manifest);
    edited.tables.find((t) => t.name === 't_bob')!.rules.privacy = POLICY;
    const editFile = join(dir, 'edited.json');
    writeFileSync(editFile, JSON.stringify(edited));
    v2 = join(dir, 'manifest-v2.json');
    const proposed = await cleanroom(['manifest', 'propose', editFile, '--from', cluster.nodeDirs.ann!, '--out', v2]);
    expect(proposed.code, proposed.stderr).toBe(0);
    expect(proposed.stdout).toContain('v2 (from v1), no signature yet');
    expect(proposed.stdout).toContain('t_bob: privacy policy added: ε 5');
    const diff = await cleanroom(['manifest', 'diff', manifestOf('ann'), v2]);
    expect(diff.stdout.trim().split('\n')).toEqual(['version 1 → 2', expect.stringMatching(/^t_bob: privacy policy added: ε 5, δ 0\.000001 per query/)]);
    expect((await cleanroom(['manifest', 'sign', v2, '--node', cluster.nodeDirs.ann!])).code).toBe(0);
    const status = await cleanroom(['manifest', 'status', v2]);
    expect(status.stdout).toMatch(/^manifest reload v2, hash [0-9a-f]{64}\nsigned by: ann\nstill to sign: bob\n$/);

    copyFileSync(v2, manifestOf('ann'));
    await vi.waitFor(() => expect(logOf('ann')).toContain(`manifest ${manifestOf('ann')} refused: v2 is not signed by bob (signed by ann); the node keeps serving manifest v1`), LOAD_WAIT);
    expect(await query(cluster.nodeDirs.ann!, SQL)).toMatchObject({ kind: 'result', result: { rows: [['g0', 10], ['g1', 10]] } });
  });

  it('once one node runs v2 and the other v1, a query between them fails naming both versions', async () => {
    const signed = await cleanroom(['manifest', 'sign', v2, '--node', cluster.nodeDirs.bob!]);
    expect(signed.stdout).toContain('all members have signed');
    copyFileSync(v2, manifestOf('bob'));
    await vi.waitFor(() => expect(logOf('bob')).toMatch(/manifest .* v2 loaded, signed by every member \(queries already running finish on v1\): version 1 → 2; t_bob: privacy policy added/), LOAD_WAIT);
    const answer = await query(cluster.nodeDirs.ann!, SQL);
    expect(answer).toMatchObject({ kind: 'error', code: 'AUTH_FAILED', message: expect.stringContaining('this node runs manifest v1, the peer bob v2') });
    await vi.waitFor(() => expect(logOf('bob')).toContain('ann (not yet authenticated) hung up on learning our manifest: this node runs manifest v2, the peer ann v1'), LOAD_WAIT);
  });

  it('once both run v2, a query is differentially private, without a restart', async () => {
    copyFileSync(v2, manifestOf('ann'));
    await vi.waitFor(() => expect(logOf('ann')).toMatch(/v2 loaded, signed by every member/), LOAD_WAIT);
    // No GROUP BY: grouping under a policy needs the dimension's values declared, which this manifest does not.
    const answer = await query(cluster.nodeDirs.ann!, 'SELECT COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k');
    expect(answer, JSON.stringify(answer)).toMatchObject({ kind: 'result', result: { privacy: { epsilon: expect.any(String) } } });
    const status = await cleanroom(['status', cluster.nodeDirs.bob!]);
    expect(status.stdout).toContain('(manifest v2)');
    // The policy is in force for every query now, as the planner says of a grouping it cannot make private.
    expect(await query(cluster.nodeDirs.ann!, SQL)).toMatchObject({ kind: 'error', code: 'RULE_VIOLATION', message: expect.stringContaining('under a privacy policy') });
  });
});
