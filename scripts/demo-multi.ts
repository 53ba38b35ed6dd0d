import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { formatTable } from '../src/cli/table.js';
import type { Table } from '../src/manifest/schema.js';
import { CAMPAIGNS, CATEGORIES, prng, writeCsv } from './demo-data.js';
import { createCluster, freePort, query, repoRoot, startNode, type LocalMember, type RunningNode } from './local-cluster.js';
import { plaintextAnswer, sameAnswer, type TableData } from './plaintext/answer.js';
import { readCsvTables } from './plaintext/csv-tables.js';

/**
 * `npm run demo:multi`: three organisations, a publisher and two retailers, as three node processes on loopback
 * (docker/compose.yml runs the same topology as containers). Two queries, asked by the publisher, the only
 * result receiver: a join of all three members' tables, and totals over the retailers' federated sales table.
 * Each answer is printed beside the plaintext answer computed from the pooled files.
 */
export const MULTI_MEMBERS = ['publisher', 'retailer1', 'retailer2'] as const;
export const MULTI_PEER_PORT = 7100;
export const MULTI_CONTROL_PORT = 7200;
const MIN_KEYS = 25;

export const MULTI_QUERIES = {
  join: 'SELECT i.campaign, COUNT(*), SUM(i.impressions), AVG(i.impressions) FROM impressions i JOIN customers_r1 a ON i.email = a.email JOIN customers_r2 b ON i.email = b.email GROUP BY i.campaign',
  federated: 'SELECT s.category, COUNT(*), SUM(s.amount), AVG(s.amount) FROM sales s GROUP BY s.category',
};

export function multiTables(): Table[] {
  const customers = (n: 1 | 2): Table => ({
    name: `customers_r${n}`,
    owner: `retailer${n}`,
    columns: [{ name: 'email', type: 'string' }, { name: 'segment', type: 'string' }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: ['segment'], minDistinctKeys: MIN_KEYS, overlapDisclosure: ['publisher'] },
  });
  return [
    {
      name: 'impressions',
      owner: 'publisher',
      columns: [{ name: 'email', type: 'string' }, { name: 'campaign', type: 'string' }, { name: 'impressions', type: 'integer', min: 0, max: 1_000_000 }],
      joinKey: { column: 'email', normalization: 'email' },
      rules: { aggregations: [{ column: 'impressions', functions: ['sum', 'avg'] }], dimensions: ['campaign'], minDistinctKeys: MIN_KEYS, overlapDisclosure: [] },
    },
    customers(1),
    customers(2),
    {
      name: 'sales',
      owner: 'retailer1',
      holders: ['retailer1', 'retailer2'],
      columns: [
        { name: 'email', type: 'string' },
        { name: 'amount', type: 'decimal', scale: 2, min: -100_000, max: 100_000 },
        { name: 'category', type: 'string', values: [...CATEGORIES] },
      ],
      joinKey: { column: 'email', normalization: 'email' },
      rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['category'], minDistinctKeys: MIN_KEYS, overlapDisclosure: [] },
    },
  ];
}

/** Each organisation's own files, in its own node directory: nothing of one member's data sits in another's. */
export async function writeMultiData(nodeDirs: Record<string, string>, rows: number, seed: number): Promise<Record<string, Record<string, string>>> {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const email = (i: number) => {
    const e = `person${i}@example.com`;
    return rand() < 0.2 ? ` ${e.toUpperCase()}` : e;
  };
  const people = rows * 2;
  const files: Record<string, Record<string, string>> = {};
  const file = async (member: string, table: string, header: string[], data: (string | number | null)[][]) => {
    await mkdir(join(nodeDirs[member]!, 'data'), { recursive: true });
    const path = join(nodeDirs[member]!, 'data', `${table}.csv`);
    await writeCsv(path, header, data);
    (files[member] ??= {})[table] = path;
  };
  await file('publisher', 'impressions', ['email', 'campaign', 'impressions'], Array.from({ length: rows }, () => [email(Math.floor(rand() * people)), pick(CAMPAIGNS), 1 + Math.floor(rand() * 40)]));
  for (const n of [1, 2]) {
    const offset = n === 1 ? 0 : people / 4;
    await file(`retailer${n}`, `customers_r${n}`, ['email', 'segment'], Array.from({ length: rows }, () => [email(offset + Math.floor(rand() * people * 0.75)), pick(['gold', 'silver', 'bronze'])]));
    await file(`retailer${n}`, 'sales', ['email', 'amount', 'category'], Array.from({ length: rows }, () => [email(offset + Math.floor(rand() * people * 0.75)), ((100 + Math.floor(rand() * 30000)) / 100).toFixed(2), pick(CATEGORIES)]));
  }
  return files;
}

export interface MultiDeployment {
  readonly dir: string;
  /** How peers reach each member, and where each node listens. */
  readonly host: (member: string) => string;
  readonly listenHost: string;
  readonly ports: (member: string) => { peer: number; control: number };
  readonly rows: number;
  /** One member's table served from PostgreSQL: its rows go to `seedDir`, which the database loads at its first start. */
  readonly database?: MultiDatabase;
}

export interface MultiDatabase {
  readonly member: string;
  readonly table: string;
  readonly url: string;
  readonly passwordEnv: string;
  readonly seedDir: string;
}

/** Node directories (identity, config, data, the manifest signed by all three) for the given deployment. */
export async function prepareMulti(d: MultiDeployment): Promise<{ nodeDirs: Record<string, string>; files: Record<string, Record<string, string>> }> {
  const nodeDirs = Object.fromEntries(MULTI_MEMBERS.map((m) => [m, join(d.dir, m)]));
  const files = await writeMultiData(nodeDirs, d.rows, 2026);
  const db = d.database;
  if (db) {
    // The table lives in the database now: its file moves to the seed the database loads, out of the node's directory.
    // Copied, then removed: in the compose topology the seed and the node directory are two volumes, two mounts,
    // and rename() between mounts fails (EXDEV) even on one file system.
    await mkdir(db.seedDir, { recursive: true });
    const seed = join(db.seedDir, `${db.table}.csv`);
    await copyFile(files[db.member]![db.table]!, seed);
    await rm(files[db.member]![db.table]!);
    files[db.member]![db.table] = seed;
  }
  const source = (m: string, t: string) =>
    db?.member === m && db.table === t
      ? { postgres: { url: db.url, passwordEnv: db.passwordEnv, table: `public.${t}` } }
      : // Relative to the node directory, so the same directory works mounted anywhere (a container's /node).
        { path: `data/${t}.csv`, format: 'csv' as const };
  const members: LocalMember[] = MULTI_MEMBERS.map((m) => ({
    id: m,
    name: m === 'publisher' ? 'Publisher Media' : `Retailer ${m.slice(-1)}`,
    port: d.ports(m).peer,
    controlPort: d.ports(m).control,
    tables: Object.fromEntries(Object.keys(files[m]!).map((t) => [t, source(m, t)])),
  }));
  await createCluster({
    dir: d.dir,
    collaborationId: 'retail-measurement',
    members,
    tables: multiTables(),
    queriers: ['publisher'],
    receivers: ['publisher'],
    endpoint: (m) => `ws://${d.host(m.id)}:${m.port}`,
    listenHost: d.listenHost,
  });
  return { nodeDirs, files };
}

async function main(): Promise<number> {
  const dir = process.env.CLEANROOM_DEMO_DIR ?? join(repoRoot(), 'demo-run-multi');
  const rows = Number(process.env.CLEANROOM_DEMO_ROWS ?? 20_000);
  await rm(dir, { recursive: true, force: true });
  const ports: Record<string, { peer: number; control: number }> = {};
  for (const m of MULTI_MEMBERS) ports[m] = { peer: await freePort(), control: await freePort() };
  say(`Three organisations (${MULTI_MEMBERS.join(', ')}), ${rows.toLocaleString('en')} rows per table, each node its own process on loopback`);
  const { nodeDirs, files } = await prepareMulti({ dir, host: () => '127.0.0.1', listenHost: '127.0.0.1', ports: (m) => ports[m]!, rows });
  const nodes: RunningNode[] = [];
  let failures = 0;
  try {
    for (const m of MULTI_MEMBERS) nodes.push(await startNode(nodeDirs[m]!));
    // Every member's files in one place, a federated table's per holder.
    const fileOf = (member: string, table: string) => files[member]![table]!;
    const pooled = await readCsvTables(Object.fromEntries(multiTables().map((t) => [t.name, t.holders ? Object.fromEntries(t.holders.map((h) => [h, fileOf(h, t.name)])) : fileOf(t.owner, t.name)])));
    failures += await compare(
      nodeDirs.publisher!,
      MULTI_QUERIES.join,
      pooled,
      'a join of all three members: the publisher learns which of its own rows are customers of both retailers; each retailer learns the size of the other\'s customer set, and retailer1 (the combiner) the size of their overlap; only the publisher receives the result.',
    );
    failures += await compare(
      nodeDirs.publisher!,
      MULTI_QUERIES.federated,
      pooled,
      'the retailers\' federated sales table: the publisher receives totals per category; each retailer learns the other\'s customer count per category, no sums.',
    );
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
  say(failures === 0 ? '\nAll answers agree with the plaintext computation.' : `\n${failures} answer(s) disagree.`);
  return failures === 0 ? 0 : 1;
}

/** Asks the clean room, prints its answer beside the plaintext oracle's over the pooled files; 1 if they differ. */
async function compare(nodeDir: string, sql: string, pooled: TableData, note: string): Promise<number> {
  say(`\nQuery asked by the publisher:\n  ${sql}\n  (${note})`);
  const answer = await query(nodeDir, sql);
  if (answer.kind !== 'result') {
    say(`  failed: ${JSON.stringify(answer)}`);
    return 1;
  }
  const expected = await plaintextAnswer(sql, multiTables(), pooled);
  say(`\n  clean room (${answer.result.mode}):\n${indent(formatTable(answer.result))}`);
  say(`\n  plaintext, computed from the pooled files:\n${indent(formatTable(expected))}`);
  const agree = sameAnswer(answer.result, expected);
  say(`\n  agree: ${agree ? 'yes' : 'NO'}`);
  return agree ? 0 : 1;
}

const say = (s: string) => process.stdout.write(s + '\n');
const indent = (s: string) => s.replace(/^/gm, '    ');

/** In the compose topology, retailer2 keeps its customers in PostgreSQL (docker/compose.yml's retailer2-db service). */
export const COMPOSE_DATABASE = {
  member: 'retailer2',
  table: 'customers_r2',
  url: 'postgres://cleanroom_reader@retailer2-db:5432/retail',
  passwordEnv: 'RETAILER2_DB_PASSWORD',
  /** The setup's mount of the volume the database loads its rows from (its /seed). */
  seedVolume: 'retailer2-seed',
} as const;

/**
 * Inside the compose topology: prepare the three node volumes once, or run the queries from the publisher's
 * network namespace with its node directory mounted (the control port and token are read from there).
 */
async function docker(args: string[]): Promise<number> {
  const [mode, dir] = args;
  if (mode === '--prepare' && dir) {
    if (existsSync(join(dir, 'publisher', 'config.json'))) {
      say(`${dir} is already prepared; docker compose down -v starts over`);
      return 0;
    }
    await prepareMulti({ dir, host: (m) => m, listenHost: '0.0.0.0', ports: () => ({ peer: MULTI_PEER_PORT, control: MULTI_CONTROL_PORT }), rows: 20_000, database: { ...COMPOSE_DATABASE, seedDir: join(dir, COMPOSE_DATABASE.seedVolume) } });
    say(`prepared ${MULTI_MEMBERS.map((m) => join(dir, m)).join(', ')}`);
    return 0;
  }
  if (mode === '--queries' && dir) {
    let failures = 0;
    for (const [name, sql] of Object.entries(MULTI_QUERIES)) {
      say(`\n${name} query asked by the publisher:\n  ${sql}`);
      const answer = await query(dir, sql);
      if (answer.kind === 'result') say(indent(formatTable(answer.result)));
      else {
        say(`  failed: ${JSON.stringify(answer)}`);
        failures += 1;
      }
    }
    return failures === 0 ? 0 : 1;
  }
  return main();
}

if (process.argv[1]?.endsWith('demo-multi.js')) {
  docker(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`demo:multi failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
