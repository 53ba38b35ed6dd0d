import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { MAX_TABLE_ROWS, POSTGRES_FETCH_ROWS } from '../limits.js';
import type { Column, Table } from '../manifest/schema.js';
import { instantOf, timestampText } from '../manifest/time-value.js';
import type { Condition, Literal, Predicate } from '../query/ast.js';
import { predicatesOf } from '../query/condition.js';
import { NO_PROBLEMS, problemList, type DataProblem, type ProblemList } from './data-problem.js';
import { conditionSql } from './filter-sql.js';
import { close, isPostgresFailure, openReadOnly, postgresProblem } from './postgres-client.js';
import { postgresRules } from './postgres-rules.js';
import { quoteIdent } from './sql-text.js';
import { sourceName, type Findings, type PostgresSource } from './table-source.js';
import { addValueProblems, countsSql, locateBadValues, ruleChecks } from './value-check.js';

const TEXT = /^(text|character varying(\(\d+\))?|character(\(\d+\))?|name)$/;
const INTEGER = /^(smallint|integer|bigint)$/;
const NUMERIC = /^numeric(\((\d+),(\d+)\))?$/;
const FLOAT = /^(real|double precision)$/;
const TIMESTAMP = /^timestamp(\(\d\))? with(out)? time zone$/;

/**
 * Whether a PostgreSQL column type can hold the declared column (SPEC §5, as for a Parquet file's schema). Every value
 * travels as its text and is checked by the same rules as a CSV field, so numeric(12,4) holding 1.2500 passes a
 * scale of 2 and 1.2345 does not; text holds any type and is checked value by value. A date, timestamp (with or without
 * time zone, read in the session's UTC) or boolean travels as the text PostgreSQL writes of it in ISO DateStyle
 * (postgres-client.ts): 2024-01-31, 2024-01-31 10:00:00+00, true.
 */
function holds(type: string, c: Column): boolean {
  if (TEXT.test(type)) return true;
  if (c.type === 'string') return false;
  if (c.type === 'integer') return INTEGER.test(type) || NUMERIC.exec(type)?.[3] === '0';
  if (c.type === 'date') return type === 'date';
  if (c.type === 'timestamp') return TIMESTAMP.test(type);
  if (c.type === 'boolean') return type === 'boolean';
  return INTEGER.test(type) || NUMERIC.test(type) || FLOAT.test(type);
}

/**
 * Where a predicate can run inside PostgreSQL with exactly DuckDB's meaning: strings compared byte-wise (COLLATE "C",
 * as DuckDB compares), LIKE without an escape character, integers and numerics exactly, and so dates, timestamps and
 * booleans stored in their own types. A column stored as text holding numbers, days, instants or booleans, or as a
 * float, is filtered after the read instead, and so is lower, upper, trim and ILIKE: SPEC §5 defines them as DuckDB's,
 * which PostgreSQL's collation-dependent case mapping and space-only btrim are not.
 * DuckDB applies every filter again over what was read, so a pushed-down filter only has to keep every row DuckDB
 * would keep.
 */
function pushable(p: Predicate, type: string, c: Column, utf8: boolean): boolean {
  if (p.functions !== undefined || (p.kind === 'like' && p.caseInsensitive)) return false;
  if (c.type === 'date') return type === 'date';
  if (c.type === 'timestamp') return TIMESTAMP.test(type);
  if (c.type === 'boolean') return type === 'boolean';
  if (c.type !== 'string') return INTEGER.test(type) || NUMERIC.test(type);
  // Byte order is code-point order, and LIKE's `_` one code point, only in UTF-8: elsewhere only equality and NULL
  // tests keep DuckDB's meaning.
  return TEXT.test(type) && (utf8 || p.kind === 'in' || p.kind === 'null' || (p.kind === 'compare' && (p.op === '=' || p.op === '!=')));
}

/**
 * A column as the query reads it: its text, and an empty text as NULL, as a CSV file's empty field reads (a text
 * column's '' would otherwise be a group, or pass a filter, that the same rows in a file do not give).
 */
function asText(c: Column): string {
  return `NULLIF(${quoteIdent(c.name)}::text, '')`;
}

/** What a query reads of a database table: some of its columns, and the filters to run inside the database. */
export interface PostgresRead {
  readonly columns: readonly string[];
  readonly filters: readonly Condition[];
}

/**
 * Reads the columns a query needs, of the rows its filters keep, out of PostgreSQL into a DuckDB table `name` on
 * `conn`'s database, in batches through a cursor, as text; then checks every value read by the manifest's rules.
 * Projection and filters are parameterised SQL built from the checked plan, never from the query's text. The table
 * is the query's own snapshot: both of its reads (keys, then matched rows) see the same rows.
 */
export async function snapshotPostgres(conn: DuckDBConnection, table: Table, src: PostgresSource, read: PostgresRead, name: string): Promise<Findings> {
  return withSchema(table, src, read.columns, async (client, schema) => {
    const { relation, types, raw, byColumn, fetched } = schema;
    if (fetched.length === 0) return { source: '', raw, rows: 0n, whole: NO_PROBLEMS, byColumn };
    const utf8 = read.filters.length > 0 && (await client.query<{ e: string }>("SELECT current_setting('server_encoding') AS e")).rows[0]?.e === 'UTF8';
    const params: unknown[] = [];
    // A conjunct runs inside the database when all of it can; its parameters are bound only then.
    const column = (p: Predicate) => fetched.find((x) => x.name === p.column.column);
    const conds = read.filters.flatMap((f) => {
      const all = predicatesOf(f).every((p) => {
        const c = column(p);
        return c !== undefined && pushable(p, types.get(c.name)!, c, utf8);
      });
      return all ? [conditionSql(f, (p) => filterSql(p, column(p)!, types.get(column(p)!.name)!, params))] : [];
    });
    // With filters inside the database, the rows read are not the whole table: the rules are checked over every row
    // first, so that whether a query is refused never depends on the rows its filters single out.
    if (conds.length > 0) {
      const whole = await wholeTableProblems(client, relation, fetched, types, sourceName(src));
      if (whole.size > 0) return { source: '', raw, rows: 0n, whole: NO_PROBLEMS, byColumn: new Map([...byColumn, ...whole]) };
    }
    const select = `SELECT ${fetched.map(asText).join(', ')} FROM ${relation}${conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : ''}`;
    const source = quoteIdent(name);
    await conn.run(`CREATE TABLE ${source} (${fetched.map((_, i) => `c${i} VARCHAR`).join(', ')})`);
    const appender = await conn.createAppender(name);
    const cursor = client.query(new Cursor<string[]>(select, params, { rowMode: 'array' }));
    let rows = 0n;
    try {
      for (;;) {
        const batch = await cursor.read(POSTGRES_FETCH_ROWS);
        if (batch.length === 0) break;
        rows += BigInt(batch.length);
        if (rows > MAX_TABLE_ROWS) break;
        for (const row of batch) {
          for (const v of row) {
            if (v === null) appender.appendNull();
            else appender.appendVarchar(v);
          }
          appender.endRow();
        }
      }
    } finally {
      await cursor.close().catch(() => {});
      appender.closeSync();
    }
    const file = sourceName(src);
    if (rows > MAX_TABLE_ROWS) return { source, raw, rows, whole: problemList([{ file, rule: 'too-many-rows', detail: `has more than ${MAX_TABLE_ROWS} rows; at most that many are supported` }]), byColumn };
    const checks = ruleChecks(table, raw);
    const [counted] = (await conn.runAndReadAll(`SELECT count(*)${countsSql(checks)} FROM ${source}`)).getRows() as [DuckDBValue[]];
    const counts = counted.slice(1).map((v) => BigInt(v as bigint));
    const bad = await locateBadValues(conn, checks, counts, `SELECT row_number() OVER () AS ord, * FROM ${source}`);
    // A row of a database table has no position its operator could look up: the problem names column, rule and value.
    addValueProblems(byColumn, file, checks, counts, bad, () => ({}));
    return { source, raw, rows, whole: NO_PROBLEMS, byColumn };
  });
}

/**
 * Whether the database serves `columns` of the table in types that can hold them, without reading a row: what a
 * node checks before it accepts a query (the rows are checked as the query reads them).
 */
export async function checkPostgresSchema(table: Table, src: PostgresSource, columns: readonly string[]): Promise<Findings> {
  return withSchema(table, src, columns, async (_client, { raw, byColumn }) => ({ source: '', raw, rows: 0n, whole: NO_PROBLEMS, byColumn }));
}

interface Schema {
  /** The relation as PostgreSQL names it, quoted where it must be: safe to put in SQL text. */
  readonly relation: string;
  /** Column -> its type as format_type writes it. */
  readonly types: ReadonlyMap<string, string>;
  /** Manifest column -> its place in the read (c0, c1, ...), for the columns that can be read. */
  readonly raw: Map<string, string>;
  readonly byColumn: Map<string, ProblemList>;
  /** The columns that can be read, in the order of the read. */
  readonly fetched: readonly Column[];
}

/** Runs `f` in a read-only transaction once the relation and the types of `columns` are known; a failure of the database is a problem of the table. */
async function withSchema(table: Table, src: PostgresSource, columns: readonly string[], f: (client: pg.Client, schema: Schema) => Promise<Findings>): Promise<Findings> {
  const file = sourceName(src);
  const problem = (p: Omit<DataProblem, 'file'>): DataProblem => ({ file, ...p });
  const refuse = (p: DataProblem): Findings => ({ source: '', raw: new Map(), rows: 0n, whole: problemList([p]), byColumn: new Map() });
  let client: pg.Client | undefined;
  try {
    client = await openReadOnly(src);
    // A text PostgreSQL cannot parse as a name is as missing as one it cannot find.
    const rel = await client.query<{ name: string | null }>('SELECT to_regclass($1)::text AS name', [src.table]).catch((err: unknown) => {
      if (err instanceof pg.DatabaseError) return { rows: [{ name: null }] };
      throw err;
    });
    const relation = rel.rows[0]?.name;
    if (!relation) return refuse(problem({ rule: 'missing-table', detail: `there is no table or view ${src.table} that ${new URL(src.url).username || 'this user'} can see` }));
    const types = new Map(
      (await client.query<{ attname: string; type: string }>('SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped', [src.table])).rows.map((r) => [r.attname, r.type]),
    );
    const raw = new Map<string, string>();
    const byColumn = new Map<string, ProblemList>();
    const fetched: Column[] = [];
    for (const name of columns) {
      const c = table.columns.find((x) => x.name === name)!;
      const type = types.get(c.name);
      if (type === undefined) byColumn.set(c.name, problemList([problem({ column: c.name, rule: 'missing-column', detail: `is not a column of ${relation}` })]));
      else if (!holds(type, c)) byColumn.set(c.name, problemList([problem({ column: c.name, rule: 'column-type', detail: `is stored as ${type}, which cannot hold a ${c.type} column` })]));
      else {
        raw.set(c.name, quoteIdent(`c${fetched.length}`));
        fetched.push(c);
      }
    }
    return await f(client, { relation, types, raw, byColumn, fetched });
  } catch (err) {
    if (isPostgresFailure(err)) return refuse(postgresProblem(src, err).problem);
    throw err;
  } finally {
    if (client) await close(client);
  }
}

/** Every rule of every column read, counted over the whole table inside the database; only counts come back. */
async function wholeTableProblems(client: pg.Client, relation: string, columns: readonly Column[], types: ReadonlyMap<string, string>, file: string): Promise<Map<string, ProblemList>> {
  const params: unknown[] = [];
  const param = (v: unknown) => (params.push(v), `$${params.length}`);
  const stored = (c: Column) => {
    const type = types.get(c.name)!;
    return TEXT.test(type) ? undefined : { column: quoteIdent(c.name), type };
  };
  const checks = columns.flatMap((c) => postgresRules(c, asText(c), param, stored(c)).map((r) => ({ ...r, column: c.name })));
  const found = new Map<string, ProblemList>();
  if (checks.length === 0) return found;
  const [counts] = (await client.query<unknown[]>({ text: `SELECT ${checks.map((k) => `count(*) FILTER (WHERE ${k.bad})`).join(', ')} FROM ${relation}`, values: params, rowMode: 'array' })).rows;
  checks.forEach((k, i) => {
    const n = Number(counts![i]);
    if (n === 0) return;
    const before = found.get(k.column);
    const problem: DataProblem = { file, column: k.column, rule: k.rule, detail: `${k.detail} in ${n} row(s) of the table (cleanroom check names them)` };
    found.set(k.column, problemList([...(before?.problems ?? []), problem], (before?.total ?? 0) + n));
  });
  return found;
}

/** One pushable predicate as PostgreSQL SQL over the stored column, of type `type`, its literals bound as parameters. */
function filterSql(p: Predicate, c: Column, type: string, params: unknown[]): string {
  const col = c.type === 'string' ? `${asText(c)} COLLATE "C"` : quoteIdent(c.name);
  const bind = (lit: Literal): string => {
    // A timestamp literal is UTC, and a date literal against a timestamp column is that day's midnight, UTC.
    params.push(c.type === 'timestamp' ? timestampText(instantOf(String(lit.value))) : String(lit.value));
    const param = `$${params.length}`;
    switch (c.type) {
      case 'string':
        return `${param}::text`;
      case 'date':
        return `${param}::date`;
      case 'timestamp':
        return type.endsWith('with time zone') ? `(${param}::timestamp AT TIME ZONE 'UTC')` : `${param}::timestamp`;
      case 'boolean':
        return `${param}::boolean`;
      default:
        return `${param}::numeric`;
    }
  };
  switch (p.kind) {
    case 'compare':
      return `(${col} ${p.op === '!=' ? '<>' : p.op} ${bind(p.value)})`;
    case 'in':
      return `(${col} IN (${p.values.map(bind).join(', ')}))`;
    case 'between':
      return `(${col} BETWEEN ${bind(p.low)} AND ${bind(p.high)})`;
    case 'like':
      // PostgreSQL's LIKE escapes with a backslash unless told otherwise; SPEC §5's has no escape character.
      return `(${col} LIKE ${bind({ type: 'string', value: p.pattern })} ESCAPE '')`;
    case 'null':
      return `(${col} IS NULL)`;
  }
}

/** A DuckDB table name for one snapshot: random, so snapshots of queries running at once never meet. */
export function snapshotName(): string {
  return `pg_snapshot_${randomBytes(8).toString('hex')}`;
}
