import { DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { CleanroomError, errorMessage } from '../errors.js';
import { MAX_TABLE_ROWS } from '../limits.js';
import type { Column, Table } from '../manifest/schema.js';
import type { Literal, Predicate } from '../query/ast.js';
import type { TableSide } from '../query/plan.js';
import { normalizedKeySql, quoteIdent } from './normalize.js';

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

/** Values per group before the sum columns: matched rows and distinct matched keys. */
export const GROUP_HEAD_VALUES = 2;

/**
 * The node's own tables, read through DuckDB. Filters and per-group aggregation run as SQL here;
 * only normalised keys (into the local crypto) and per-group integers leave this module.
 */
export class TableStore {
  private constructor(
    private readonly db: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly sources: ReadonlyMap<string, TableSource>,
  ) {}

  static async open(sources: Record<string, TableSource>): Promise<TableStore> {
    const db = await DuckDBInstance.create(':memory:');
    return new TableStore(db, await db.connect(), new Map(Object.entries(sources)));
  }

  close(): void {
    this.conn.closeSync();
    this.db.closeSync();
  }

  /**
   * (Re)creates the typed view of a table from its file and checks every row against the manifest's
   * declared types and bounds: a value out of bounds or with more decimals than declared is refused, never rounded.
   */
  async prepare(table: Table): Promise<void> {
    const src = this.sources.get(table.name);
    if (!src) throw new CleanroomError('CONFIG_INVALID', `this node's config maps no file to its table ${table.name}`);
    const path = `'${src.path.replaceAll("'", "''")}'`;
    const reader = src.format === 'csv' ? `read_csv(${path}, header = true, all_varchar = true)` : `read_parquet(${path})`;
    const raw = quoteIdent(`raw_${table.name}`);
    await this.exec(table, `CREATE OR REPLACE TEMP VIEW ${raw} AS SELECT * FROM ${reader}`);
    const checks = table.columns.flatMap((c) => formatCheck(c));
    const [row] = await this.rows(table, `SELECT count(*) ${checks.map((x) => `, ${x.sql}`).join('')} FROM ${raw}`);
    const total = BigInt(row![0] as bigint);
    if (total > MAX_TABLE_ROWS) throw new CleanroomError('DATA_INVALID', `${table.name} has ${total} rows; at most ${MAX_TABLE_ROWS} are supported`);
    checks.forEach((check, i) => {
      const bad = BigInt(row![i + 1] as bigint);
      if (bad > 0n) throw new CleanroomError('DATA_INVALID', `${table.name}.${check.column}: ${bad} value(s) ${check.problem}`);
    });
    const typed = table.columns.map((c) => `${castSql(c)} AS ${quoteIdent(c.name)}`).join(', ');
    await this.exec(table, `CREATE OR REPLACE TEMP VIEW ${quoteIdent(table.name)} AS SELECT ${typed} FROM ${raw}`);
  }

  /** Distinct normalised keys of the filtered table, in batches; NULL and empty keys never take part. */
  async *distinctKeys(side: TableSide, batchSize: number): AsyncGenerator<string[]> {
    const { sql, params } = keySetSql(side);
    let result;
    try {
      result = await this.conn.stream(`SELECT DISTINCT nk FROM (${sql})`, params);
    } catch (err) {
      throw dataError(side.table, err);
    }
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

  /**
   * Per-group aggregates over the filtered rows whose normalised key is in `matched` (a semi-join: a row
   * counts once however often its key appears on the other side). Groups come sorted by their labels.
   */
  async aggregateMatched(side: TableSide, groupBy: readonly string[], sumColumns: readonly string[], matched: Iterable<string>): Promise<GroupAggregate[]> {
    const temp = quoteIdent(`matched_${side.table.name}`);
    await this.exec(side.table, `CREATE OR REPLACE TEMP TABLE ${temp} (key VARCHAR)`);
    const appender = await this.conn.createAppender(`matched_${side.table.name}`);
    for (const key of matched) {
      appender.appendVarchar(key);
      appender.endRow();
    }
    appender.closeSync();
    const { sql, params } = keySetSql(side);
    const dims = groupBy.map(quoteIdent);
    const sums = sumColumns.flatMap((name) => {
      const c = side.table.columns.find((x) => x.name === name)!;
      const scaled = c.type === 'decimal' ? `CAST(${quoteIdent(name)} * ${10n ** BigInt(c.scale)} AS HUGEINT)` : `CAST(${quoteIdent(name)} AS HUGEINT)`;
      return [`CAST(coalesce(sum(${scaled}), 0) AS HUGEINT)`, `count(${quoteIdent(name)})`];
    });
    const select = [...dims, 'count(*)', 'count(DISTINCT nk)', ...sums].join(', ');
    const grouping = dims.length > 0 ? ` GROUP BY ${dims.join(', ')} ORDER BY ${dims.map((d) => `${d} NULLS LAST`).join(', ')}` : '';
    const rows = await this.rows(side.table, `SELECT ${select} FROM (${sql}) s WHERE nk IN (SELECT key FROM ${temp})${grouping}`, params);
    await this.exec(side.table, `DROP TABLE ${temp}`);
    return rows
      .map((r) => ({
        labels: r.slice(0, dims.length).map((v, i) => label(v, side.table.columns.find((c) => c.name === groupBy[i])!)),
        values: r.slice(dims.length).map((v) => BigInt(v as bigint)),
      }));
  }

  private async exec(table: Table, sql: string, params: DuckDBValue[] = []): Promise<void> {
    try {
      await this.conn.run(sql, params);
    } catch (err) {
      throw dataError(table, err);
    }
  }

  private async rows(table: Table, sql: string, params: DuckDBValue[] = []): Promise<DuckDBValue[][]> {
    try {
      return (await this.conn.runAndReadAll(sql, params)).getRows();
    } catch (err) {
      throw dataError(table, err);
    }
  }
}

function dataError(table: Table, err: unknown): CleanroomError {
  return new CleanroomError('DATA_INVALID', `table ${table.name}: ${errorMessage(err)}`, { cause: err });
}

function formatCheck(c: Column): { column: string; sql: string; problem: string }[] {
  const v = `trim(CAST(${quoteIdent(c.name)} AS VARCHAR))`;
  if (c.type === 'string') return [];
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
