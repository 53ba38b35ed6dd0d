import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { query, startNode } from '../../scripts/local-cluster.js';
import { canonicalManifestBytes } from '../../src/manifest/canonical.js';
import { Manifest } from '../../src/manifest/schema.js';
import { signManifest } from '../../src/manifest/signature.js';
import { readIdentity } from '../../src/manifest/identity.js';
import { makeTempDir, startKeyGroupCluster, stopNode, type Cluster } from './helpers.js';

/**
 * Governance with three members: every node runs only the manifest every member signed, and only that one; queriers
 * and receivers are what it says.
 */
const IDS = ['ann', 'bob', 'cat'] as const;

describe('governance of a three-member collaboration', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let dir: string;
  const SQL = 'SELECT a.g, COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k JOIN t_cat c ON a.k = c.k GROUP BY a.g';

  beforeAll(async () => {
    const tmp = await makeTempDir('governance');
    ({ dir, cleanup } = tmp);
    cluster = await startKeyGroupCluster(dir, 'gov', IDS, { queriers: ['ann', 'bob'], receivers: ['ann'] });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('runs the join for an allowed querier; the result goes to the receiver only', async () => {
    expect(await query(cluster.nodeDirs.ann!, SQL)).toMatchObject({ kind: 'result', result: { rows: [['g0', 10], ['g1', 10]] } });
    expect(await query(cluster.nodeDirs.bob!, SQL)).toMatchObject({ kind: 'released', receivers: ['ann'] });
    const results = (id: string) => (existsSync(join(cluster.nodeDirs[id]!, 'results')) ? readdirSync(join(cluster.nodeDirs[id]!, 'results')).length : 0);
    // The receiver saves its result when its own part ends, which may be just after the querier's.
    for (let i = 0; i < 50 && results('ann') < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(results('ann')).toBe(2);
    expect(results('bob')).toBe(0);
    expect(results('cat')).toBe(0);
  });

  it('refuses a querier the manifest does not name, before any cryptography', async () => {
    expect(await query(cluster.nodeDirs.cat!, SQL)).toMatchObject({ kind: 'error', code: 'RULE_VIOLATION', message: expect.stringContaining('rule: queriers') });
  });

  it('a node refuses to start with a changed manifest that not every member signed again', async () => {
    const file = join(cluster.nodeDirs.cat!, 'manifest.json');
    const signed = JSON.parse(readFileSync(file, 'utf8'));
    const original = readFileSync(file, 'utf8');
    await stopNode(cluster.nodes.cat!);
    writeFileSync(file, JSON.stringify({ ...signed, manifest: { ...signed.manifest, receivers: ['ann', 'cat'] } }));
    await expect(startNode(cluster.nodeDirs.cat!)).rejects.toThrow(/MANIFEST_UNSIGNED: the manifest is not signed by every member: missing or invalid signature of ann, bob, cat/);
    writeFileSync(file, original);
  });

  it('a new version signed by everyone but loaded by one node only: the querier and that node are each told both version numbers', async () => {
    const file = join(cluster.nodeDirs.cat!, 'manifest.json');
    const signed = JSON.parse(readFileSync(file, 'utf8'));
    const v2 = Manifest.parse({ ...signed.manifest, version: 2, receivers: ['ann', 'cat'] });
    const signatures: Record<string, string> = {};
    for (const id of IDS) signatures[id] = signManifest(v2, id, (await readIdentity(join(cluster.nodeDirs[id]!, 'identity.json'))).secretKey);
    writeFileSync(file, JSON.stringify({ manifest: v2, signatures }));
    expect(canonicalManifestBytes(v2)).not.toEqual(canonicalManifestBytes(Manifest.parse(signed.manifest)));
    const cat = await startNode(cluster.nodeDirs.cat!);
    cluster.nodes.cat = cat;
    const answer = await query(cluster.nodeDirs.ann!, SQL);
    expect(answer).toMatchObject({ kind: 'error' });
    // ann authenticated cat before it refused: it names both versions (SPEC §2), and no hash when the numbers differ.
    expect(answer).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringContaining('this node runs manifest v1, the peer cat v2: every member must sign and load the same version') });
    expect(answer).not.toMatchObject({ message: expect.stringMatching(/[0-9a-f]{16}/) });
    // The refusal reaches ann's CLI before cat's log line reaches this process (a pipe): wait for it, boundedly.
    await vi.waitFor(() => expect(cat.log.join('')).toContain('ann (not yet authenticated) hung up on learning our manifest: this node runs manifest v2, the peer ann v1'), { timeout: 5000 });
  });
});
