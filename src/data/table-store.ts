import { DuckDBBlobValue, DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { CleanroomError, errorMessage } from '../errors.js';
import { MAX_TABLE_ROWS } from '../limits.js';
import type { Column, Table } from '../manifest/schema.js';
import type { Literal, Predicate } from '../query/ast.js';
import type { TableSide } from '../query/plan.js';
import { HashCache, type KeyHasher } from './hash-cache.js';
import { normalizedKeySql, quoteIdent } from './normalize.js';

/**
 * DuckDB runs beside the crypto workers: two threads are plenty for scans of local files, and the memory cap keeps
 * a node within its budget (DuckDB spills to disk beyond it) whatever the table size.
 */
const DUCKDB_SETTINGS = { threads: '2', memory_limit: '512MB' };

export interface TableSource {
  readonly path: string;
  readonly format: 'csv' | 'parquet';
}

/** One output group before sharing: its labels and its integer aggregates. */
export interface GroupAggregate {
  readonly labels: readonly Label[];
  /** [rows, distinct keys, then per sum column: sum in units of 10^-scale, non-null count]. */
  readonly values: readonly bigint[];
}
export type Label = string | number | null;

/**
 * The node's own tables, read through DuckDB. Filters and per-group aggregation run as SQL here; only H(k) of
 * the keys (into the local crypto) and per-group integers leave this module. Each call takes its own DuckDB
 * connection, so that concurrent queries never share a pending result.
 */
export class TableStore {
  private readonly cache: HashCache;

  private constructor(
    private readonly db: DuckDBInstance,
    private readonly sources: ReadonlyMap<string, TableSource>,
    cacheDir: string,
  ) {
    this.cache = new HashCache(cacheDir);
  }

  static async open(sources: Record<string, TableSource>, cacheDir: string): Promise<TableStore> {
    return new TableStore(await DuckDBInstance.create(':memory:', DUCKDB_SETTINGS), new Map(Object.entries(sources)), cacheDir);
  }

  close(): void {
    this.db.closeSync();
  }

  /**
   * (Re)creates the typed view of a table from its file and checks every row against the manifest's
   * declared types and bounds: a value out of bounds or with more decimals than declared is refused, never rounded.
   */
  async prepare(table: Table): Promise<void> {
    const src = this.source(table);
    const path = quoteLiteral(src.path);
    const reader = src.format === 'csv' ? `read_csv(${path}, header = true, all_varchar = true)` : `read_parquet(${path})`;
    const raw = quoteIdent(`raw_${table.name}`);
    await this.using(table, async (conn) => {
      await conn.run(`CREATE OR REPLACE VIEW ${raw} AS SELECT * FROM ${reader}`);
      const checks = table.columns.flatMap((c) => formatCheck(c));
      const [row] = (await conn.runAndReadAll(`SELECT count(*) ${checks.map((x) => `, ${x.sql}`).join('')} FROM ${raw}`)).getRows();
      const total = BigInt(row![0] as bigint);
      if (total > MAX_TABLE_ROWS) throw new CleanroomError('DATA_INVALID', `${table.name} has ${total} rows; at most ${MAX_TABLE_ROWS} are supported`);
      checks.forEach((check, i) => {
        const bad = BigInt(row![i + 1] as bigint);
        if (bad > 0n) throw new CleanroomError('DATA_INVALID', `${table.name}.${check.column}: ${bad} value(s) ${check.problem}`);
      });
      const typed = table.columns.map((c) => `${castSql(c)} AS ${quoteIdent(c.name)}`).join(', ');
      await conn.run(`CREATE OR REPLACE VIEW ${quoteIdent(table.name)} AS SELECT ${typed} FROM ${raw}`);
    });
  }

  /**
   * H(k) of the distinct normalised keys of the filtered table, in batches, in the order of the keys (which
   * `aggregateMatched` refers to by index). The hashes come from the table's hash cache, built first if the
   * table changed since it was last hashed. NULL and empty keys never take part.
   */
  async *hashedKeys(side: TableSide, hasher: KeyHasher, batchSize: number): AsyncGenerator<Uint8Array> {
    const src = this.source(side.table);
    const conn = await this.db.connect();
    // The cache is appended to on `conn` while the keys stream from another connection: a query on a
    // connection ends the result still streaming on it.
    const reader = await this.db.connect();
    try {
      const cacheFile = await this.cache.ensure(conn, side.table, src.path, hasher, () => allDistinctKeys(reader, side.table, batchSize));
      const { sql, params } = keySetSql(side);
      const result = await conn
        .stream(`SELECT c.h FROM (SELECT DISTINCT nk FROM (${sql})) f LEFT JOIN read_parquet(${quoteLiteral(cacheFile)}) c ON f.nk = c.nk ORDER BY f.nk`, params)
        .catch((err: unknown) => Promise.reject(dataError(side.table, err)));
      let batch = new Uint8Array(batchSize * 32);
      let n = 0;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const column = chunk.getColumnVector(0);
        for (let i = 0; i < chunk.rowCount; i++) {
          const h = column.getItem(i) as DuckDBBlobValue | null;
          // Every key of the table is in its cache; a miss means the file changed under us during the query.
          if (h === null || h.bytes.length !== 32) throw new CleanroomError('DATA_INVALID', `table ${side.table.name} changed while the query ran; run it again`);
          batch.set(h.bytes, n * 32);
          if (++n === batchSize) {
            yield batch;
            batch = new Uint8Array(batchSize * 32);
            n = 0;
          }
        }
      }
      if (n > 0) yield batch.subarray(0, n * 32);
    } finally {
      reader.closeSync();
      conn.closeSync();
    }
  }

  /**
   * Per-group aggregates over the filtered rows whose key matched (a semi-join: a row counts once however often
   * its key appears on the other side). `matched` holds indices into the key order of `hashedKeys`, so the keys
   * themselves never sit in the JS heap. Groups come sorted by their labels.
   */
  async aggregateMatched(side: TableSide, groupBy: readonly string[], sumColumns: readonly string[], matched: readonly number[]): Promise<GroupAggregate[]> {
    return this.using(side.table, async (conn) => {
      await conn.run('CREATE OR REPLACE TEMP TABLE matched (i BIGINT)');
      const appender = await conn.createAppender('matched');
      for (const i of matched) {
        appender.appendBigInt(BigInt(i));
        appender.endRow();
      }
      appender.closeSync();
      const { sql } = keySetSql(side);
      const hits = `SELECT nk FROM (SELECT nk, row_number() OVER (ORDER BY nk) - 1 AS i FROM (SELECT DISTINCT nk FROM (${sql}))) WHERE i IN (SELECT i FROM matched)`;
      return aggregate(conn, side, groupBy, sumColumns, `nk IN (${hits})`);
    });
  }

  /** Per-group aggregates over every filtered row with a key: one holder's part of a federated table. */
  async aggregateAll(side: TableSide, groupBy: readonly string[], sumColumns: readonly string[]): Promise<GroupAggregate[]> {
    return this.using(side.table, (conn) => aggregate(conn, side, groupBy, sumColumns, 'true'));
  }

  private source(table: Table): TableSource {
    const src = this.sources.get(table.name);
    if (!src) throw new CleanroomError('CONFIG_INVALID', `this node's config maps no file to its table ${table.name}`);
    return src;
  }

  /** Runs `f` on a connection of its own; DuckDB errors become DATA_INVALID naming the table. */
  private async using<T>(table: Table, f: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const conn = await this.db.connect();
    try {
      return await f(conn);
    } catch (err) {
      throw err instanceof CleanroomError ? err : dataError(table, err);
    } finally {
      conn.closeSync();
    }
  }
}

/** [rows, distinct keys, (sum, non-null count) per sum column] per group of the filtered rows meeting `where`. */
async function aggregate(conn: DuckDBConnection, side: TableSide, groupBy: readonly string[], sumColumns: readonly string[], where: string): Promise<GroupAggregate[]> {
  const { sql, params } = keySetSql(side);
  const dims = groupBy.map(quoteIdent);
  const sums = sumColumns.flatMap((name) => {
    const c = side.table.columns.find((x) => x.name === name)!;
    const scaled = c.type === 'decimal' ? `CAST(${quoteIdent(name)} * ${10n ** BigInt(c.scale)} AS HUGEINT)` : `CAST(${quoteIdent(name)} AS HUGEINT)`;
    return [`CAST(coalesce(sum(${scaled}), 0) AS HUGEINT)`, `count(${quoteIdent(name)})`];
  });
  const select = [...dims, 'count(*)', 'count(DISTINCT nk)', ...sums].join(', ');
  const grouping = dims.length > 0 ? ` GROUP BY ${dims.join(', ')} ORDER BY ${dims.map((d) => `${d} NULLS LAST`).join(', ')}` : '';
  const rows = (await conn.runAndReadAll(`SELECT ${select} FROM (${sql}) s WHERE ${where}${grouping}`, params)).getRows();
  return rows.map((r) => ({
    labels: r.slice(0, dims.length).map((v, i) => label(v, side.table.columns.find((c) => c.name === groupBy[i])!)),
    values: r.slice(dims.length).map((v) => BigInt(v as bigint)),
  }));
}

/** Every distinct normalised key of the whole table (no filter): what the hash cache holds. */
async function* allDistinctKeys(conn: DuckDBConnection, table: Table, batchSize: number): AsyncGenerator<string[]> {
  const { sql, params } = keySetSql({ table, filters: [] });
  const result = await conn.stream(`SELECT DISTINCT nk FROM (${sql})`, params).catch((err: unknown) => Promise.reject(dataError(table, err)));
  let batch: string[] = [];
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    for (const v of chunk.getColumnValues(0)) {
      batch.push(v as string);
      if (batch.length === batchSize) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

function quoteLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

function dataError(table: Table, err: unknown): CleanroomError {
  return new CleanroomError('DATA_INVALID', `table ${table.name}: ${errorMessage(err)}`, { cause: err });
}

function formatCheck(c: Column): { column: string; sql: string; problem: string }[] {
  const v = `trim(CAST(${quoteIdent(c.name)} AS VARCHAR))`;
  if (c.type === 'string') {
    if (!c.values) return [];
    const list = c.values.map((x) => `'${x.replaceAll("'", "''")}'`).join(', ');
    return [{ column: c.name, sql: `count(*) FILTER (WHERE ${quoteIdent(c.name)} IS NOT NULL AND CAST(${quoteIdent(c.name)} AS VARCHAR) NOT IN (${list}))`, problem: `are not among the values the manifest declares (${c.values.join(', ')})` }];
  }
  const pattern = c.type === 'integer' ? '[+-]?[0-9]+' : `[+-]?[0-9]+(\\.[0-9]{0,${c.scale}}0*)?`;
  const value = c.type === 'integer' ? `TRY_CAST(${v} AS HUGEINT)` : `TRY_CAST(${v} AS DECIMAL(38, ${c.scale}))`;
  return [
    {
      column: c.name,
      sql: `count(*) FILTER (WHERE ${v} IS NOT NULL AND NOT regexp_full_match(${v}, '${pattern}'))`,
      problem: c.type === 'integer' ? 'are not integers' : `are not decimals with at most ${c.scale} digits after the point`,
    },
    {
      column: c.name,
      sql: `count(*) FILTER (WHERE ${value} < ${c.min} OR ${value} > ${c.max})`,
      problem: `are outside the declared bounds [${c.min}, ${c.max}]`,
    },
  ];
}

function castSql(c: Column): string {
  const v = quoteIdent(c.name);
  switch (c.type) {
    case 'string':
      return `CAST(${v} AS VARCHAR)`;
    case 'integer':
      return `CAST(trim(CAST(${v} AS VARCHAR)) AS BIGINT)`;
    case 'decimal':
      return `CAST(trim(CAST(${v} AS VARCHAR)) AS DECIMAL(38, ${c.scale}))`;
  }
}

/** The filtered rows with their normalised key `nk`, as parameterised SQL: literals never enter the SQL text. */
function keySetSql(side: TableSide): { sql: string; params: DuckDBValue[] } {
  const params: DuckDBValue[] = [];
  const bind = (lit: Literal, c: Column): string => {
    params.push(lit.value);
    const p = `$${params.length}`;
    // The literal's own scale, so that it is compared exactly (the parser allows at most 15 digits).
    const scale = lit.type === 'number' ? (lit.value.split('.')[1]?.length ?? 0) : 0;
    return c.type === 'string' ? `CAST(${p} AS VARCHAR)` : `CAST(${p} AS DECIMAL(38, ${scale}))`;
  };
  const conds = side.filters.map((f) => predicateSql(f, side.table, bind));
  const nk = normalizedKeySql(side.table.joinKey.column, side.table.joinKey.normalization);
  const where = ['nk IS NOT NULL', "nk <> ''"];
  const inner = `SELECT *, ${nk} AS nk FROM ${quoteIdent(side.table.name)}${conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : ''}`;
  return { sql: `SELECT * FROM (${inner}) WHERE ${where.join(' AND ')}`, params };
}

function predicateSql(p: Predicate, table: Table, bind: (lit: Literal, c: Column) => string): string {
  const c = table.columns.find((x) => x.name === p.column.column)!;
  const col = quoteIdent(c.name);
  switch (p.kind) {
    case 'compare':
      return `${col} ${p.op === '!=' ? '<>' : p.op} ${bind(p.value, c)}`;
    case 'in':
      return `${col} IN (${p.values.map((v) => bind(v, c)).join(', ')})`;
    case 'between':
      return `${col} BETWEEN ${bind(p.low, c)} AND ${bind(p.high, c)}`;
  }
}

function label(v: DuckDBValue, c: Column): Label {
  if (v === null) return null;
  if (c.type === 'integer') return Number(v as bigint);
  return String(v);
}
