/**
 * Shared pieces of the end-to-end tests: temporary directories, a cluster of real node processes, and the
 * comparison of a result with the plaintext oracle's answer (scripts/plaintext/) over the same CSV files.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { PlaintextAnswer } from '../../scripts/plaintext/answer.js';
import type { NodeConfigFile } from '../../src/config/node-config.js';
import { CLI, createCluster, freePort, startNode, type ClusterSpec, type LocalMember, type RunningNode } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import type { Cell, QueryResult } from '../../src/query/result.js';

/** The tests spawn the compiled CLI: fail with a clear message when `npm run build` has not run. */
export function assertBuilt(): void {
  if (!existsSync(CLI())) throw new Error(`${CLI()} is missing: run \`npm run build\` before the end-to-end tests`);
}

export async function makeTempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `cleanroom-e2e-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Stops a node process: SIGTERM, SIGKILL after 5 s. Unlike RunningNode.stop it returns at once for a process
 * that already ended by a signal (whose exitCode stays null), so an afterAll never waits for an 'exit' that is past.
 */
export async function stopNode(n: RunningNode): Promise<void> {
  const p = n.process;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface MemberSpec {
  readonly id: string;
  readonly name: string;
  readonly tables: LocalMember['tables'];
  readonly backend?: LocalMember['backend'];
}

export interface Cluster {
  readonly nodeDirs: Record<string, string>;
  readonly controlPort: Record<string, number>;
  readonly peerPort: Record<string, number>;
  readonly nodes: Record<string, RunningNode>;
  stop(): Promise<void>;
}

/**
 * Creates the node directories (identity, config, manifest signed by all) and starts every node as its own process.
 * If one node fails to start, the others are stopped before the error propagates.
 */
export async function startCluster(
  spec: Omit<ClusterSpec, 'members'> & {
    members: readonly MemberSpec[];
    /** Merged into every node's config.json before it starts: settings createCluster leaves at their defaults (a short silence limit). */
    config?: Partial<NodeConfigFile>;
  },
  envOf: (memberId: string) => NodeJS.ProcessEnv = () => ({}),
): Promise<Cluster> {
  assertBuilt();
  const members: LocalMember[] = [];
  const controlPort: Record<string, number> = {};
  const peerPort: Record<string, number> = {};
  for (const m of spec.members) {
    peerPort[m.id] = await freePort();
    controlPort[m.id] = await freePort();
    members.push({ ...m, port: peerPort[m.id]!, controlPort: controlPort[m.id]! });
  }
  const { nodeDirs } = await createCluster({ ...spec, members });
  if (spec.config) {
    for (const dir of Object.values(nodeDirs)) {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...spec.config }, null, 2));
    }
  }
  const started = await Promise.allSettled(spec.members.map((m) => startNode(nodeDirs[m.id]!, envOf(m.id))));
  const nodes: Record<string, RunningNode> = {};
  started.forEach((s, i) => {
    if (s.status === 'fulfilled') nodes[spec.members[i]!.id] = s.value;
  });
  const stop = async () => {
    await Promise.all(Object.values(nodes).map(stopNode));
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { nodeDirs, controlPort, peerPort, nodes, stop };
}

/** Groups of matched rows that the minimum suppresses. */
export function dropped(exp: PlaintextAnswer): number {
  return exp.groups.filter((g) => g.keys < exp.minDistinctKeys).length;
}

/**
 * Compares a clean-room result with the plaintext oracle's answer cell by cell: dimensions, counts and sums
 * exactly, averages exactly at 6 decimals and within 1e-6 of the plain double average; rows matched by their labels.
 */
export function assertMatches(result: QueryResult, exp: PlaintextAnswer, columns: readonly string[]): void {
  expect(result.mode).toBe(exp.mode);
  expect(result.columns).toEqual(columns);
  expect(result.minDistinctKeys).toBe(exp.minDistinctKeys);
  const dimIdx = exp.outputs.flatMap((o, i) => (o === 'dimension' ? [i] : []));
  const labelKey = (row: readonly Cell[]) => JSON.stringify(dimIdx.map((i) => row[i] ?? null));
  const ours = new Map(result.rows.map((r) => [labelKey(r), r]));
  expect(ours.size, 'released groups have distinct labels').toBe(result.rows.length);
  // The set of released groups is exactly the set with enough distinct matched keys.
  expect([...ours.keys()].sort()).toEqual(exp.rows.map(labelKey).sort());
  exp.rows.forEach((want, g) => {
    const got = ours.get(labelKey(want))!;
    exp.outputs.forEach((o, i) => {
      const where = `group ${labelKey(want)}, column ${columns[i]}`;
      if (o === 'avg' && want[i] !== null) {
        expect(got[i], where).toBe(want[i]);
        expect(Math.abs(Number(got[i]) - exp.avgDoubles[g]![i]!), where).toBeLessThanOrEqual(1e-6);
      } else {
        expect(got[i], where).toStrictEqual(want[i]);
      }
    });
  });
}

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cleanroom ...args` to completion (killed after `timeoutMs`, which fails the caller's expectations). */
export function cleanroom(args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      stderr += `\n[test: killed after ${timeoutMs} ms]`;
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The smallest collaboration: each member owns `t_<id>` with 20 keys k0..k19 (exact join) and a dimension g
 * (g0, g1), every member granting every other disclosure, minimum 2. Returns the running cluster.
 */
export async function startKeyGroupCluster(
  dir: string,
  collaborationId: string,
  ids: readonly string[],
  roles: { queriers: readonly string[]; receivers: readonly string[] },
  envOf?: (memberId: string) => NodeJS.ProcessEnv,
): Promise<Cluster> {
  const tables: Table[] = ids.map((owner) => ({
    name: `t_${owner}`,
    owner,
    columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string' }],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: { aggregations: [], dimensions: ['g'], minDistinctKeys: 2, overlapDisclosure: ids.map((member) => ({ member, filters: ['g'] })) },
  }));
  const members = ids.map((id) => {
    const path = join(dir, `${id}.csv`);
    writeFileSync(path, 'k,g\n' + Array.from({ length: 20 }, (_, i) => `k${i},g${i % 2}`).join('\n') + '\n');
    return { id, name: id, tables: { [`t_${id}`]: { path, format: 'csv' as const } } };
  });
  return startCluster({ dir, collaborationId, members, tables, queriers: roles.queriers, receivers: roles.receivers }, envOf);
}


/**
 * A noble-backend node and a sodium-backend node: lefty owns left_t, keys u0..u149@x.org with group g<i % 3> and
 * value i; righty owns right_t, keys u100..u249@x.org as `rightKey` writes them in the CSV file (email join, minimum
 * 5, lefty the querier and granted righty's overlap). `manifest` is what a test changes in the collaboration.
 */
export async function startMixedBackendPair(
  dir: string,
  collaborationId: string,
  rightKey: (i: number) => string,
  manifest: Pick<ClusterSpec, 'verify'> = {},
): Promise<Cluster> {
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
  const left = join(dir, 'left.csv');
  const right = join(dir, 'right.csv');
  writeFileSync(left, 'k,g,v\n' + Array.from({ length: 150 }, (_, i) => `u${i}@x.org,g${i % 3},${i}`).join('\n') + '\n');
  writeFileSync(right, 'k\n' + Array.from({ length: 150 }, (_, i) => rightKey(i + 100)).join('\n') + '\n');
  return startCluster({
    dir,
    collaborationId,
    members: [
      { id: 'lefty', name: 'Left', tables: { left_t: { path: left, format: 'csv' } }, backend: 'noble' },
      { id: 'righty', name: 'Right', tables: { right_t: { path: right, format: 'csv' } }, backend: 'sodium' },
    ],
    tables,
    queriers: ['lefty'],
    receivers: ['lefty'],
    ...manifest,
  });
}

/** `l.g, COUNT(*), SUM(l.v)` by group over startMixedBackendPair's tables: keys 100..149 match, g0 holding i % 3 = 0. */
export const MIXED_BACKEND_GROUPS = [0, 1, 2].map((g) => {
  const is = Array.from({ length: 50 }, (_, j) => 100 + j).filter((i) => i % 3 === g);
  return [`g${g}`, is.length, String(is.reduce((a, b) => a + b, 0))];
});
