import type { DuckDBConnection } from '@duckdb/node-api';
import { MAX_TABLE_ROWS } from '../limits.js';
import type { Column, Table } from '../manifest/schema.js';
import type { Findings } from './table-source.js';
import { NO_PROBLEMS, problemList, type DataProblem, type ProblemList } from './data-problem.js';
import { quoteIdent, quoteLiteral } from './sql-text.js';
import { addValueProblems, countsSql, locateBadValues, ruleChecks } from './value-check.js';

const INTEGER_TYPES = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'UHUGEINT']);
/**
 * Instants at any precision, with or without a time zone: DuckDB writes them as ISO text, a TIMESTAMP WITH TIME ZONE
 * with its offset (in the TimeZone setting, UTC in the node), which the rules apply; nanoseconds that are not whole
 * microseconds have more decimals than a timestamp column holds, and are refused.
 */
const TIMESTAMP_TYPES = new Set(['TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'TIMESTAMP_S', 'TIMESTAMP_MS', 'TIMESTAMP_NS']);

/**
 * Whether a Parquet column's type can hold the declared column. Text is checked value by value as a CSV field
 * is; numbers are checked by their text, so a DECIMAL(10,4) holding 1.2500 passes a scale of 2 and 1.2345 does not;
 * days, instants and booleans too, by the text DuckDB writes of them (2024-01-31, 2024-01-31 10:00:00+00, true).
 */
function holds(type: string, c: Column): boolean {
  if (type === 'VARCHAR') return true;
  if (c.type === 'string') return false;
  const decimal = /^DECIMAL\(\d+,(\d+)\)$/.exec(type);
  if (c.type === 'integer') return INTEGER_TYPES.has(type) || decimal?.[1] === '0';
  if (c.type === 'date') return type === 'DATE';
  if (c.type === 'timestamp') return TIMESTAMP_TYPES.has(type);
  if (c.type === 'boolean') return type === 'BOOLEAN';
  return INTEGER_TYPES.has(type) || decimal !== null || type === 'FLOAT' || type === 'DOUBLE';
}

/** The schema against the manifest (every declared column, in a type that can hold it), then every value. */
export async function checkParquet(conn: DuckDBConnection, table: Table, path: string): Promise<Findings> {
  const problem = (p: Omit<DataProblem, 'file'>): DataProblem => ({ file: path, ...p });
  const source = `read_parquet(${quoteLiteral(path)})`;
  const schema = new Map(
    (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)).getRows().map(([name, type]) => [String(name), String(type)]),
  );
  const raw = new Map<string, string>();
  const byColumn = new Map<string, ProblemList>();
  for (const c of table.columns) {
    const type = schema.get(c.name);
    if (type === undefined) byColumn.set(c.name, problemList([problem({ column: c.name, rule: 'missing-column', detail: 'is not a column of the file' })]));
    else if (!holds(type, c)) byColumn.set(c.name, problemList([problem({ column: c.name, rule: 'column-type', detail: `is stored as ${type}, which cannot hold a ${c.type} column` })]));
    else raw.set(c.name, type === 'VARCHAR' ? quoteIdent(c.name) : `CAST(${quoteIdent(c.name)} AS VARCHAR)`);
  }
  const checks = ruleChecks(table, raw);
  const [counted] = (await conn.runAndReadAll(`SELECT count(*)${countsSql(checks)} FROM ${source}`)).getRows();
  const rows = BigInt(counted![0] as bigint);
  const counts = counted!.slice(1).map((v) => BigInt(v as bigint));
  const whole = rows > MAX_TABLE_ROWS ? problemList([problem({ rule: 'too-many-rows', detail: `has ${rows} rows; at most ${MAX_TABLE_ROWS} are supported` })]) : NO_PROBLEMS;
  const bad = await locateBadValues(conn, checks, counts, `SELECT file_row_number + 1 AS ord, * FROM read_parquet(${quoteLiteral(path)}, file_row_number = true)`);
  addValueProblems(byColumn, path, checks, counts, bad, (ordinal) => ({ row: ordinal }));
  return { source, raw, rows, whole, byColumn };
}
