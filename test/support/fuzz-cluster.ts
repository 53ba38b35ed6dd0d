/**
 * The two-member cluster the fuzz suites attack: node processes on loopback with small CSV tables whose answers
 * are known, the insider's identity (alpha's real key, read from its node directory) and beta as the target.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { query, startNode } from '../../scripts/local-cluster.js';
import { manifestHash } from '../../src/manifest/canonical.js';
import type { Manifest, Table } from '../../src/manifest/schema.js';
import { readIdentity, type Identity } from '../../src/manifest/identity.js';
import { makeTempDir, startCluster, stopNode, type Cluster } from '../e2e/helpers.js';

/** alpha holds k0..k59, beta k20..k99: 40 keys in common. */
const ALPHA_KEYS = Array.from({ length: 60 }, (_, i) => i);
const BETA_KEYS = Array.from({ length: 80 }, (_, i) => i + 20);
const group = (i: number) => ['x', 'y', 'z'][i % 3]!;

/** beta is Q (alpha, the querier, owns a table of a count-only query). */
export const COUNT_SQL = 'SELECT COUNT(*) FROM left_t a JOIN right_t b ON a.k = b.k';
/** beta is P: it owns the GROUP BY and SUM table. */
export const GROUP_SQL = 'SELECT b.g, COUNT(*), SUM(b.v) FROM left_t a JOIN right_t b ON a.k = b.k GROUP BY b.g';

const tables: Table[] = [
  {
    name: 'left_t',
    owner: 'alpha',
    columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string' }],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: { aggregations: [], dimensions: ['g'], minDistinctKeys: 5, overlapDisclosure: ['beta'] },
  },
  {
    name: 'right_t',
    owner: 'beta',
    columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string' }, { name: 'v', type: 'integer', min: 0, max: 1000 }],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: { aggregations: [{ column: 'v', functions: ['sum'] }], dimensions: ['g'], minDistinctKeys: 5, overlapDisclosure: ['alpha'] },
  },
];

export interface FuzzCluster {
  readonly cluster: Cluster;
  readonly manifest: Manifest;
  readonly hash: Uint8Array;
  /** alpha's identity key: what an insider holds. */
  readonly insider: Identity;
  /** The target: beta's peer port and endpoint. */
  readonly port: number;
  readonly url: string;
  /** Asserts that both queries give the known answers, asked at alpha (so beta serves them over its endpoint). */
  expectCorrectAnswers(): Promise<void>;
  /** Asks one of COUNT_SQL and GROUP_SQL at alpha: undefined for the known answer, else what came instead. */
  wrongAnswer(sql: typeof COUNT_SQL | typeof GROUP_SQL): Promise<string | undefined>;
  /** Stops beta's node, so that something else can take its port, and starts it again. */
  stopTarget(): Promise<void>;
  startTarget(): Promise<void>;
  stop(): Promise<void>;
}

export async function startFuzzCluster(name: string): Promise<FuzzCluster> {
  const tmp = await makeTempDir(name);
  // Each table inside its own node's directory (createCluster makes the directories it finds already there).
  mkdirSync(join(tmp.dir, 'alpha'));
  mkdirSync(join(tmp.dir, 'beta'));
  const alphaFile = join(tmp.dir, 'alpha', 'left.csv');
  const betaFile = join(tmp.dir, 'beta', 'right.csv');
  writeFileSync(alphaFile, 'k,g\n' + ALPHA_KEYS.map((i) => `k${i},${group(i)}`).join('\n') + '\n');
  writeFileSync(betaFile, 'k,g,v\n' + BETA_KEYS.map((i) => `k${i},${group(i)},${i}`).join('\n') + '\n');
  const cluster = await startCluster({
    dir: tmp.dir,
    collaborationId: 'fuzz',
    members: [
      { id: 'alpha', name: 'Alpha', tables: { left_t: { path: alphaFile, format: 'csv' } } },
      { id: 'beta', name: 'Beta', tables: { right_t: { path: betaFile, format: 'csv' } } },
    ],
    tables,
    queriers: ['alpha', 'beta'],
    receivers: ['alpha', 'beta'],
  }).catch(async (err) => {
    await tmp.cleanup();
    throw err;
  });
  const manifest = JSON.parse(readFileSync(join(cluster.nodeDirs.beta!, 'manifest.json'), 'utf8')).manifest as Manifest;
  const common = ALPHA_KEYS.filter((i) => BETA_KEYS.includes(i));
  const groups = ['x', 'y', 'z'].map((g) => {
    const keys = common.filter((i) => group(i) === g);
    return [g, keys.length, String(keys.reduce((a, b) => a + b, 0))];
  });
  return {
    cluster,
    manifest,
    hash: manifestHash(manifest),
    insider: await readIdentity(join(cluster.nodeDirs.alpha!, 'identity.json')),
    port: cluster.peerPort.beta!,
    url: `ws://127.0.0.1:${cluster.peerPort.beta!}`,
    async expectCorrectAnswers() {
      expect(await query(cluster.nodeDirs.alpha!, COUNT_SQL)).toMatchObject({ kind: 'result', result: { rows: [[common.length]] } });
      const grouped = await query(cluster.nodeDirs.alpha!, GROUP_SQL);
      expect(grouped.kind).toBe('result');
      if (grouped.kind === 'result') expect([...grouped.result.rows].sort()).toEqual(groups);
    },
    async wrongAnswer(sql) {
      const answer = await query(cluster.nodeDirs.alpha!, sql);
      if (answer.kind === 'error') return `${answer.code}: ${answer.message}`;
      if (answer.kind !== 'result') return answer.kind;
      const rows = sql === COUNT_SQL ? answer.result.rows : [...answer.result.rows].sort();
      const want = sql === COUNT_SQL ? [[common.length]] : groups;
      return JSON.stringify(rows) === JSON.stringify(want) ? undefined : `rows ${JSON.stringify(rows)}`;
    },
    async stopTarget() {
      await stopNode(cluster.nodes.beta!);
    },
    async startTarget() {
      cluster.nodes.beta = await startNode(cluster.nodeDirs.beta!);
    },
    async stop() {
      await cluster.stop();
      await tmp.cleanup();
    },
  };
}
