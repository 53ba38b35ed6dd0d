import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { Table } from '../manifest/schema.js';
import { typedSql } from './column-rules.js';
import { checkCsv } from './csv-check.js';
import { DEFAULT_CSV_DIALECT } from './csv-dialect.js';
import { DataInvalid, mergeProblems, problemList, type ProblemList } from './data-problem.js';
import { scanFile, type FileBytes } from './file-bytes.js';
import { fileVersion } from './file-version.js';
import { checkParquet } from './parquet-check.js';
import { quoteIdent } from './sql-text.js';
import type { FileSource, Findings } from './table-source.js';


/**
 * One version of a table, checked row by row against the manifest: a file version, which queries reuse until the
 * file changes, or one query's snapshot of a database table.
 */
export class CheckedTable {
  constructor(
    readonly table: Table,
    /** The file's path, or the database table (sourceName). */
    readonly file: string,
    /** The version checked: the file's (fileVersion), or the snapshot's table name. */
    readonly stamp: string,
    private readonly findings: Findings,
  ) {}

  get rows(): bigint {
    return this.findings.rows;
  }

  /** Everything the check found, in file order. */
  report(): ProblemList {
    return mergeProblems([this.findings.whole, ...this.findings.byColumn.values()]);
  }

  /** The refusal of a query using `columns`, or undefined: only the problems of those columns count. */
  refusal(columns: readonly string[]): DataInvalid | undefined {
    const list = mergeProblems([this.findings.whole, ...columns.flatMap((c) => this.findings.byColumn.get(c) ?? [])]);
    return list.total > 0 ? new DataInvalid(this.table.name, list) : undefined;
  }

  /**
   * The table as a query reads it: only `columns` (which `refusal` passed), each in its declared type and checked
   * again as it is read. A subquery, not a view: queries running at once never touch DuckDB's shared catalog.
   */
  relation(columns: readonly string[]): string {
    const typed = columns.map((name) => {
      const c = this.table.columns.find((x) => x.name === name)!;
      return `${typedSql(c, this.findings.raw.get(name)!, `cleanroom: ${this.table.name}.${name} breaks its declared rule`)} AS ${quoteIdent(name)}`;
    });
    return `(SELECT ${typed.join(', ')} FROM ${this.findings.source})`;
  }
}

/** Checks one file version, reading it again if it was written to during the check. */
export async function checkFile(db: DuckDBInstance, table: Table, src: FileSource): Promise<CheckedTable> {
  const unreadable = (err: unknown, detail: string) => new DataInvalid(table.name, problemList([{ file: src.path, rule: 'unreadable', detail }]), err);
  for (let attempt = 1; ; attempt++) {
    const { stamp, size } = await fileVersion(src.path).catch((err: unknown) => Promise.reject(unreadable(err, `cannot be opened as a file (${(err as { code?: string }).code ?? 'not a regular file'})`)));
    let conn: DuckDBConnection | undefined;
    let bytes: FileBytes | undefined;
    try {
      conn = await db.connect();
      const dialect = src.csv ?? DEFAULT_CSV_DIALECT;
      const findings = src.format === 'csv' ? await checkCsv(conn, table, src.path, dialect, size, (bytes = await scanFile(src.path, dialect.encoding === 'utf-8'))) : await checkParquet(conn, table, src.path);
      if ((await fileVersion(src.path).catch(() => undefined))?.stamp === stamp) return new CheckedTable(table, src.path, stamp, findings);
    } catch (err) {
      if (err instanceof DataInvalid) throw err;
      const mixed = bytes?.mixedLineEnd;
      if (mixed) throw new DataInvalid(table.name, problemList([{ file: src.path, line: mixed.line, rule: 'malformed', detail: `ends with ${mixed.ends} where line 1 ends with ${mixed.first}: a CSV file has one kind of line end` }]), err);
      throw unreadable(err, `cannot be read as a ${src.format === 'csv' ? 'CSV file in the declared dialect' : 'Parquet file'}`);
    } finally {
      conn?.closeSync();
    }
    if (attempt === 2) throw new DataInvalid(table.name, problemList([{ file: src.path, rule: 'changed', detail: 'was being written while it was checked; check it again once it is complete' }]));
  }
}
