import pg from 'pg';
import { POSTGRES_CONNECT_TIMEOUT_MS, POSTGRES_STATEMENT_TIMEOUT_MS } from '../limits.js';
import type { DataProblem } from './data-problem.js';
import { sourceName, type PostgresSource } from './table-source.js';

/**
 * A read-only session on the member's database: every statement runs in one REPEATABLE READ transaction, so a query
 * reads a single snapshot of its table however long the read takes, and the node can never write.
 */
export async function openReadOnly(src: PostgresSource): Promise<pg.Client> {
  const password = src.passwordEnv === undefined ? undefined : process.env[src.passwordEnv];
  if (src.passwordEnv !== undefined && password === undefined) {
    throw new PostgresProblem({ file: sourceName(src), rule: 'authentication', detail: `cannot log in: the environment variable ${src.passwordEnv} (passwordEnv) is not set` });
  }
  // The client lets a URL's (empty) password win over a separate one: the password goes into the URL it is given.
  const url = new URL(src.url);
  if (password !== undefined) url.password = encodeURIComponent(password);
  // A server that stops answering, or a lock held on the table, fails the query naming the table instead of
  // holding it (and its slot) forever: every statement, fetch and wait is bounded, and a dead peer is noticed.
  const client = new pg.Client({
    connectionString: url.toString(),
    connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
    statement_timeout: POSTGRES_STATEMENT_TIMEOUT_MS,
    lock_timeout: POSTGRES_STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: POSTGRES_STATEMENT_TIMEOUT_MS,
    query_timeout: POSTGRES_STATEMENT_TIMEOUT_MS + POSTGRES_CONNECT_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'cleanroom',
  });
  // A connection dropped by the server surfaces on the query that used it; the client must not throw unheard.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // Floats as their shortest exact text, whatever the server's or role's setting: a value is never rounded. Days and
    // instants as ISO text, timestamps with time zone in UTC (+00), whatever the server's, database's or role's
    // DateStyle and TimeZone: the rules read that text (src/data/column-rules.ts).
    await client.query("SET LOCAL extra_float_digits = 1; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL TimeZone = 'UTC'");
  } catch (err) {
    await client.end().catch(() => {});
    throw postgresProblem(src, err);
  }
  return client;
}

/** Ends the transaction (it only read) and the session. */
export async function close(client: pg.Client): Promise<void> {
  await client.query('COMMIT').catch(() => {});
  await client.end().catch(() => {});
}

/** A failure of the database or of the way to it, as opposed to a failure of this node. */
export function isPostgresFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof PostgresProblem || err instanceof pg.DatabaseError || (typeof code === 'string' && /^E[A-Z]+$/.test(code)) || /Connection terminated/i.test(String((err as Error | null)?.message));
}

/** A table's database could not serve it: the problem names the table and the cause, for the operator. */
export class PostgresProblem extends Error {
  constructor(readonly problem: DataProblem) {
    super(problem.detail);
  }
}

/**
 * The cause of a failure in words an operator acts on. PostgreSQL's own message is not quoted: it can hold values
 * (a failed cast quotes the text), and what the node says of its tables stays in terms of rules.
 */
export function postgresProblem(src: PostgresSource, err: unknown): PostgresProblem {
  if (err instanceof PostgresProblem) return err;
  const file = sourceName(src);
  const code = (err as { code?: unknown }).code;
  const u = new URL(src.url);
  const user = decoded(u.username) || 'the default user';
  const database = decoded(u.pathname.slice(1)) || 'the default database';
  const at = (rule: DataProblem['rule'], detail: string) => new PostgresProblem({ file, rule, detail });
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
    case 'ECONNRESET':
      return at('unreachable', `cannot reach the database server at ${u.host} (${code})`);
    case '28P01':
    case '28000':
      return at('authentication', `the server at ${u.host} refused the login of ${user} (SQLSTATE ${code}: wrong password or no such user)`);
    case '3D000':
      return at('missing-table', `the server at ${u.host} has no database ${database}`);
    case '42501':
      return at('permission', `${user} may not read ${src.table} (SQLSTATE 42501): grant it SELECT`);
    case '42P01':
      return at('missing-table', `there is no table or view ${src.table}`);
    case '57014':
    case '55P03':
    case '25P03':
      return at('unreachable', `the server at ${u.host} did not answer or release a lock within ${POSTGRES_STATEMENT_TIMEOUT_MS} ms (SQLSTATE ${code})`);
  }
  if (/client password must be a string|password authentication/i.test(String((err as Error)?.message))) return at('authentication', `the server at ${u.host} asks ${user} for a password: name the environment variable that holds it in passwordEnv`);
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return at('unreadable', `could not be read (SQLSTATE ${code})`);
  if (/timeout/i.test(String((err as Error)?.message))) return at('unreachable', `the database server at ${u.host} did not answer within ${POSTGRES_CONNECT_TIMEOUT_MS} ms`);
  return at('unreadable', `could not be read (${typeof code === 'string' ? code : 'the connection failed'})`);
}

/** A name as the URL spells it, or its raw text when its percent-encoding is broken. */
function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
