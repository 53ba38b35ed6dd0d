/**
 * Shared pieces of the end-to-end tests: temporary directories, a two-node cluster of real processes, and a
 * plaintext reference computed by DuckDB from the same CSV files, written here independently of the node's SQL.
 */
import { type QueryResult } from '../../src/query/result.js';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { expect } from 'vitest';
import { CLI, createCluster, freePort, startNode, type ClusterSpec, type LocalMember, type RunningNode } from '../../scripts/local-cluster.js';

import type { Cell } from '../../src/query/result.js';
export type { Cell };
export type Norm = 'email' | 'phone' | 'exact';

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
  spec: Omit<ClusterSpec, 'members'> & { members: readonly MemberSpec[] },
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

/** A DuckDB in the test process with typed views over the CSV files: the pooled-data reference. */
export class Reference {
  private constructor(
    private readonly db: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(): Promise<Reference> {
    const db = await DuckDBInstance.create(':memory:');
    return new Reference(db, await db.connect());
  }

  close(): void {
    this.conn.closeSync();
    this.db.closeSync();
  }

  /** A view `name` over a CSV file with the given column expressions (over the all-VARCHAR raw columns). */
  async view(name: string, file: string, columns: Record<string, string>): Promise<void> {
    const src = `read_csv('${file.replaceAll("'", "''")}', header = true, all_varchar = true)`;
    const cols = Object.entries(columns)
      .map(([n, expr]) => `${expr} AS ${n}`)
      .join(', ');
    await this.conn.run(`CREATE OR REPLACE VIEW ${name} AS SELECT ${cols} FROM ${src}`);
  }

  async rows(sql: string): Promise<Cell[][]> {
    const rows = (await this.conn.runAndReadAll(sql)).getRowsJS();
    return rows.map((r) => r.map((v) => (v === null ? null : typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : String(v))));
  }
}

/**
 * Key normalisation written for the reference, differently from src/data/normalize.ts: email strips ASCII
 * whitespace at both ends with a regular expression then lowercases; phone keeps ASCII digits; exact is the value.
 */
export function refNorm(col: string, norm: Norm): string {
  switch (norm) {
    case 'email':
      return `lower(regexp_replace(${col}, '^[ \\t\\n\\v\\f\\r]+|[ \\t\\n\\v\\f\\r]+$', '', 'g'))`;
    case 'phone':
      return `regexp_replace(${col}, '\\D', '', 'g')`;
    case 'exact':
      return col;
  }
}

export interface RefSide {
  /** Reference view name; its join key column is `k`. */
  readonly view: string;
  readonly norm: Norm;
  /** A SQL condition over the view's columns, or undefined for none. */
  readonly where?: string;
}

export type RefOutput =
  | { readonly kind: 'dim'; readonly col: string }
  | { readonly kind: 'count' }
  | { readonly kind: 'sum' | 'avg'; readonly col: string; readonly scale: number };

export interface RefQuery {
  readonly mode: 'count-only' | 'aggregate';
  readonly agg: RefSide;
  readonly partner: RefSide;
  readonly dims: readonly string[];
  readonly outputs: readonly RefOutput[];
  readonly minDistinctKeys: number;
}

export interface Expected {
  /** Rows that must be released, in output order. */
  readonly rows: Cell[][];
  /** Groups of matched rows that must be suppressed (fewer distinct matched keys than the minimum). */
  readonly dropped: number;
  /** Every group of matched rows with its distinct-key count, released or not. */
  readonly groups: { labels: Cell[]; keys: number; rows: number }[];
  /** For AVG cells: the plain double average, to check the tolerance independently of the exact rounding. */
  readonly avgDoubles: (number | null)[][];
}

/** The answer computed over the pooled plaintext: a semi-join of the aggregating side on the other's key set. */
export async function expected(ref: Reference, q: RefQuery): Promise<Expected> {
  const keySet = (s: RefSide) => `SELECT ${refNorm('k', s.norm)} AS nk FROM ${s.view}${s.where ? ` WHERE ${s.where}` : ''}`;
  if (q.mode === 'count-only') {
    const [[n]] = (await ref.rows(
      `SELECT count(*) FROM (SELECT DISTINCT nk FROM (${keySet(q.agg)}) WHERE nk IS NOT NULL AND length(nk) > 0) a
       INNER JOIN (SELECT DISTINCT nk FROM (${keySet(q.partner)}) WHERE nk IS NOT NULL AND length(nk) > 0) b ON a.nk = b.nk`,
    )) as [[number]];
    const keep = n >= q.minDistinctKeys;
    return { rows: keep ? [[n]] : [], dropped: keep ? 0 : 1, groups: [{ labels: [], keys: n, rows: n }], avgDoubles: keep ? [[null]] : [] };
  }
  const valueCols = [...new Set(q.outputs.flatMap((o) => (o.kind === 'sum' || o.kind === 'avg' ? [o.col] : [])))];
  const dimList = q.dims.join(', ');
  const sql = `
    WITH p AS (SELECT *, ${refNorm('k', q.agg.norm)} AS nk FROM ${q.agg.view}${q.agg.where ? ` WHERE ${q.agg.where}` : ''}),
         q AS (${keySet(q.partner)}),
         m AS (SELECT * FROM p WHERE nk IS NOT NULL AND length(nk) > 0 AND EXISTS (SELECT 1 FROM q WHERE q.nk = p.nk))
    SELECT ${q.dims.map((d) => `${d}, `).join('')} count(*), count(DISTINCT nk)
           ${valueCols.map((c) => `, CAST(sum(${c}) AS VARCHAR), count(${c}), avg(CAST(${c} AS DOUBLE))`).join('')}
    FROM m ${q.dims.length > 0 ? `GROUP BY ${dimList}` : ''}`;
  const raw = await ref.rows(sql);
  // With no GROUP BY and no matched row SQL still yields one row (count 0): that group has 0 keys and is dropped.
  const groups = raw.map((r) => ({ labels: r.slice(0, q.dims.length), keys: r[q.dims.length + 1] as number, rows: r[q.dims.length] as number }));
  const rows: Cell[][] = [];
  const avgDoubles: (number | null)[][] = [];
  let dropped = 0;
  for (const r of raw) {
    const keys = r[q.dims.length + 1] as number;
    if (keys < q.minDistinctKeys) {
      if (keys > 0) dropped += 1;
      continue;
    }
    const at = (col: string, i: number) => r[q.dims.length + 2 + 3 * valueCols.indexOf(col) + i];
    avgDoubles.push(q.outputs.map((o) => (o.kind === 'avg' ? (at(o.col, 2) as number | null) : null)));
    rows.push(
      q.outputs.map((o): Cell => {
        switch (o.kind) {
          case 'dim':
            return r[q.dims.indexOf(o.col)] ?? null;
          case 'count':
            return r[q.dims.length] as number;
          case 'sum':
            return at(o.col, 0) as string | null;
          case 'avg': {
            const sum = at(o.col, 0) as string | null;
            const n = at(o.col, 1) as number;
            return sum === null || n === 0 ? null : exactAverage(sum, o.scale, n);
          }
        }
      }),
    );
  }
  return { rows, dropped, groups: groups.filter((g) => g.keys > 0), avgDoubles };
}

/** sum (decimal text at `scale`) / n, rounded half away from zero to 6 decimals, as text. */
export function exactAverage(sum: string, scale: number, n: number): string {
  const neg = sum.startsWith('-');
  const [int, frac = ''] = sum.replace(/^[-+]/, '').split('.');
  const units = BigInt(int! + frac.padEnd(scale, '0'));
  const num = units * 10n ** 6n;
  const den = BigInt(n) * 10n ** BigInt(scale);
  let q = num / den;
  if ((num % den) * 2n >= den) q += 1n;
  const digits = q.toString().padStart(7, '0');
  const text = `${digits.slice(0, -6)}.${digits.slice(-6)}`;
  return neg && q !== 0n ? `-${text}` : text;
}

/**
 * Compares a clean-room result with the reference cell by cell: dimensions, counts and sums exactly, averages
 * exactly at 6 decimals and within 1e-6 of the plain double average; rows matched by their labels.
 */
export function assertMatches(result: QueryResult, exp: Expected, q: RefQuery, columns: readonly string[]): void {
  expect(result.mode).toBe(q.mode);
  expect(result.columns).toEqual(columns);
  expect(result.minDistinctKeys).toBe(q.minDistinctKeys);
  const dimIdx = q.outputs.flatMap((o, i) => (o.kind === 'dim' ? [i] : []));
  const labelKey = (row: readonly Cell[]) => JSON.stringify(dimIdx.map((i) => row[i] ?? null));
  const ours = new Map(result.rows.map((r) => [labelKey(r), r]));
  expect(ours.size, 'released groups have distinct labels').toBe(result.rows.length);
  // The set of released groups is exactly the set with enough distinct matched keys.
  expect([...ours.keys()].sort()).toEqual(exp.rows.map(labelKey).sort());
  exp.rows.forEach((want, g) => {
    const got = ours.get(labelKey(want))!;
    q.outputs.forEach((o, i) => {
      const where = `group ${labelKey(want)}, column ${columns[i]}`;
      if (o.kind === 'avg' && want[i] !== null) {
        expect(got[i], where).toBe(want[i]);
        expect(Math.abs(Number(got[i]) - exp.avgDoubles[g]![i]!), where).toBeLessThanOrEqual(1e-6);
      } else {
        expect(got[i], where).toStrictEqual(want[i]);
      }
    });
  });
}
