import type { DuckDBInstance } from '@duckdb/node-api';
import type { CleanroomError } from '../errors.js';
import type { Table } from '../manifest/schema.js';
import type { TableSide } from '../query/plan.js';
import type { CheckedTable } from './checked-table.js';
import { DataInvalid, problemList, type ProblemList } from './data-problem.js';

/** One table's check: everything wrong with its file (values quoted for the operator), or nothing. */
export interface TableReport {
  readonly table: string;
  readonly file: string;
  /** Data rows, when the file could be read. */
  readonly rows?: bigint;
  /** The table is in a database: read afresh by every query, so a problem found now may be gone at the next. */
  readonly database?: boolean;
  readonly problems: ProblemList;
}

/** What a reader borrows from its TableStore: the DuckDB database it reads through, and its upkeep. */
export interface ReaderHost {
  /** The current database (TableStore replaces it after an internal error invalidated it). */
  db(): DuckDBInstance;
  /** Replaces the database if `err` is the internal error that invalidates it. */
  survive(err: unknown): Promise<void>;
  /** Drops a table of the database, if it is still there. */
  dropTable(name: string): Promise<void>;
}

/**
 * Where one table's rows come from, behind TableStore (src/data/table-store.ts): each source says only how to get a
 * checked version of the table that serves a query's columns, and when that version still holds. TableStore does the
 * rest alike for every source: the key stream and its hash cache, and the aggregate SQL over the checked relation.
 * Two sources: a file read by DuckDB (CSV or Parquet, src/data/file-reader.ts) and a PostgreSQL table read into a
 * DuckDB snapshot per query side (src/data/postgres-reader.ts).
 */
export interface TableReader {
  /** `cleanroom check` and start: every row of every declared column. DataInvalid when the table cannot be read. */
  check(table: Table): Promise<TableReport>;
  /** Refuses, before a query is proposed, a table that cannot serve `columns`. */
  prepare(table: Table, columns: readonly string[]): Promise<void>;
  /** The version of the table a query side reads, checked for `columns` (refused when a problem touches them). */
  read(side: TableSide, columns: readonly string[]): Promise<CheckedTable>;
  /** Ends a query side: whatever its reads kept is dropped. Idempotent. */
  release(side: TableSide): Promise<void>;
  /** Throws when the version `checked` is no longer the table's: a query's reads were not all of one version. */
  unchanged(checked: CheckedTable): Promise<void>;
  /** What a failed read means for the operator, `err` being no CleanroomError (the database has survived it). */
  failure(table: Table, columns: readonly string[], err: unknown): Promise<CleanroomError>;
}

/** The refusal of a query whose table changed while it read it. */
export function changedDuringQuery(checked: CheckedTable, cause?: unknown): DataInvalid {
  return new DataInvalid(checked.table.name, problemList([{ file: checked.file, rule: 'changed', detail: 'changed while the query read it; run the query again' }]), cause);
}
