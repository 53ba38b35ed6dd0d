import type { CsvDialect } from './csv-dialect.js';
import type { ProblemList } from './data-problem.js';

/** Where a table's rows live: a local file, or a table or view in PostgreSQL read in place. */
export type TableSource = FileSource | PostgresSource;

export interface FileSource {
  /** Files came first: a source that names no kind is a file. */
  readonly kind?: 'file';
  readonly path: string;
  readonly format: 'csv' | 'parquet';
  /** CSV only; the defaults of CsvDialect when left out. */
  readonly csv?: CsvDialect;
}

export interface PostgresSource {
  readonly kind: 'postgres';
  /** A postgres:// URL without a password. */
  readonly url: string;
  /** The environment variable holding the password, read at each connection (never written to the config). */
  readonly passwordEnv?: string;
  /** A table or view as PostgreSQL parses a name (`public.customers`). */
  readonly table: string;
}

/** How the operator's messages name a source: its path, or the database's address and the relation. */
export function sourceName(src: TableSource): string {
  if (src.kind !== 'postgres') return src.path;
  const u = new URL(src.url);
  return `postgres ${u.host}${u.pathname} ${src.table}`;
}

/** What a check of one version of a table found, and how queries read that version. */
export interface Findings {
  /** The SQL that reads the version: a file's table function, or the DuckDB table holding a database snapshot. */
  readonly source: string;
  /** Manifest column -> its raw value as text, over `source`; a column the source lacks is not here. */
  readonly raw: ReadonlyMap<string, string>;
  readonly rows: bigint;
  /** Problems that make every column doubtful (a malformed file, an unreachable database). */
  readonly whole: ProblemList;
  readonly byColumn: ReadonlyMap<string, ProblemList>;
}
