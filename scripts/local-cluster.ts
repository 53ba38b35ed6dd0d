import { type QueryResult } from '../src/query/result.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorCode } from '../src/errors.js';
import { MANIFEST_FORMAT, type Manifest, type Table } from '../src/manifest/schema.js';
import { signManifest } from '../src/manifest/signature.js';
import type { NodeConfig, NodeConfigFile } from '../src/config/node-config.js';
import { controlEndpoint, submitQuery } from '../src/control/control-client.js';
import { generateIdentity, hex, writeIdentity, type Identity } from '../src/manifest/identity.js';

/**
 * Several organisations' nodes as separate processes on loopback: what the demo and the end-to-end tests run.
 * Each node gets its own directory with identity, config and the manifest signed by every member.
 */
export interface LocalMember {
  readonly id: string;
  readonly name: string;
  readonly port: number;
  readonly controlPort: number;
  readonly tables: NodeConfig['tables'];
  /** Overrides the cluster's backend for this member: mixed clusters show the backends interoperate. */
  readonly backend?: NodeConfig['backend'];
}

export interface ClusterSpec {
  readonly dir: string;
  readonly collaborationId: string;
  readonly members: readonly LocalMember[];
  readonly tables: readonly Table[];
  readonly queriers: readonly string[];
  readonly receivers: readonly string[];
  readonly backend?: NodeConfig['backend'];
  readonly workers?: NodeConfig['workers'];
  /** How peers reach a member (default ws://127.0.0.1:port) and where nodes listen (default 127.0.0.1). */
  readonly endpoint?: (m: LocalMember) => string;
  readonly listenHost?: string;
  /** The manifest's `verify` (SPEC §4.2.1). */
  readonly verify?: boolean;
}

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

export const CLI = () => join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

export async function createCluster(spec: ClusterSpec): Promise<{ manifest: Manifest; nodeDirs: Record<string, string> }> {
  const ids: Record<string, Identity> = {};
  const nodeDirs: Record<string, string> = {};
  for (const m of spec.members) {
    const dir = resolve(spec.dir, m.id);
    await mkdir(dir, { recursive: true });
    ids[m.id] = generateIdentity(m.id);
    nodeDirs[m.id] = dir;
  }
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    collaborationId: spec.collaborationId,
    name: `${spec.collaborationId} (local)`,
    version: 1,
    members: spec.members.map((m) => ({ id: m.id, name: m.name, endpoint: spec.endpoint?.(m) ?? `ws://127.0.0.1:${m.port}`, publicKey: hex(ids[m.id]!.publicKey) })),
    tables: [...spec.tables],
    queriers: [...spec.queriers],
    receivers: [...spec.receivers],
    ...(spec.verify ? { verify: true } : {}),
  };
  const signatures = Object.fromEntries(spec.members.map((m) => [m.id, signManifest(manifest, m.id, ids[m.id]!.secretKey)]));
  for (const m of spec.members) {
    const dir = nodeDirs[m.id]!;
    await writeIdentity(join(dir, 'identity.json'), ids[m.id]!).catch(async () => {
      throw new Error(`${dir} already holds an identity; use a fresh directory`);
    });
    const config: NodeConfigFile = {
      memberId: m.id,
      identityFile: 'identity.json',
      manifestFile: 'manifest.json',
      listen: { host: spec.listenHost ?? '127.0.0.1', port: m.port },
      control: { host: '127.0.0.1', port: m.controlPort },
      tables: m.tables,
      // Each table file's directory is a data directory, relative to the node's so that the directory can move.
      dataDirs: [...new Set(Object.values(m.tables).flatMap((t) => ('path' in t ? [relative(dir, dirname(resolve(dir, t.path))) || '.'] : [])))],
      backend: m.backend ?? spec.backend ?? 'auto',
      workers: spec.workers ?? 'auto',
      cacheDir: 'cache',
      resultsDir: 'results',
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ manifest, signatures }, null, 2) + '\n');
  }
  return { manifest, nodeDirs };
}

export interface RunningNode {
  readonly process: ChildProcess;
  readonly log: string[];
  stop(): Promise<void>;
}

/** Starts `cleanroom start <dir>` and resolves once the node says it listens. */
export function startNode(dir: string, env: NodeJS.ProcessEnv = {}): Promise<RunningNode> {
  const child = spawn(process.execPath, [CLI(), 'start', dir], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  const stop = () =>
    new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      child.once('exit', () => r());
      child.kill('SIGTERM');
    });
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${dir} did not start in time:\n${log.join('')}`));
    }, 30_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      log.push(chunk);
      if (chunk.includes('listening on')) {
        clearTimeout(timer);
        resolveStart({ process: child, log, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${dir} exited with ${code}:\n${log.join('')}`));
    });
  });
}

export type QueryAnswer =
  | { kind: 'result'; result: QueryResult }
  | { kind: 'released'; groups: number; receivers: readonly string[] }
  | { kind: 'error'; code: ErrorCode; message: string };

/**
 * Submits a query to the running node of this directory, as `cleanroom query` does: the control port from its
 * config.json, the token it wrote at start.
 */
export async function query(nodeDir: string, sql: string): Promise<QueryAnswer> {
  for await (const e of submitQuery(await controlEndpoint(nodeDir), sql)) {
    if (e.type === 'result') return { kind: 'result', result: e.result as QueryResult };
    if (e.type === 'released') return { kind: 'released', groups: e.groups, receivers: e.receivers };
    if (e.type === 'error') return { kind: 'error', code: e.code, message: e.message };
  }
  return { kind: 'error', code: 'ABORTED', message: 'no answer' };
}

/**
 * Ports below Linux's ephemeral range (32768-60999), so that no outgoing connection of any process can take one
 * between the check and the node's listen; each test worker (VITEST_POOL_ID) and each process draws from its own
 * slice, and a port is never handed out twice by one process. Ports the OS hands out (listen on 0) and release
 * were racy: a parallel test's client socket could take the port before the node bound it.
 */
const PORT_BASE = 20_000;
const PORT_SLICE = 1_000;
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const worker = Number(process.env.VITEST_POOL_ID ?? 0) % 12;
  const lo = PORT_BASE + worker * PORT_SLICE;
  for (let attempt = 0; attempt < PORT_SLICE; attempt++) {
    const port = lo + Math.floor(Math.random() * PORT_SLICE);
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolvePort) => {
      const s = createServer();
      s.once('error', () => resolvePort(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolvePort(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${lo}-${lo + PORT_SLICE - 1}`);
}
