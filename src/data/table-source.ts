import type { CsvDialect } from './csv-dialect.js';
import type { ProblemList } from './data-problem.js';

export interface TableSource {
  readonly path: string;
  readonly format: 'csv' | 'parquet';
  /** CSV only; the defaults of CsvDialect when left out. */
  readonly csv?: CsvDialect;
}

/** What a check of one file version found, and how queries read that version. */
export interface Findings {
  /** The SQL table function that reads the file. */
  readonly source: string;
  /** Manifest column -> its raw value as text, over `source`; a column the file lacks is not here. */
  readonly raw: ReadonlyMap<string, string>;
  readonly rows: bigint;
  /** Problems that make every column doubtful (a malformed file). */
  readonly whole: ProblemList;
  readonly byColumn: ReadonlyMap<string, ProblemList>;
}
