import { CleanroomError } from '../errors.js';
import type { Table } from '../manifest/schema.js';
import type { TableSide } from '../query/plan.js';
import { CheckedTable, checkFile } from './checked-table.js';
import { DataInvalid, problemList } from './data-problem.js';
import { fileVersion } from './file-version.js';
import { changedDuringQuery, type ReaderHost, type TableReader, type TableReport } from './table-reader.js';
import { sourceName, type FileSource } from './table-source.js';

/**
 * A table in a CSV or Parquet file, read by DuckDB. Each file version is checked once, row by row, against the
 * manifest; queries then read it through subqueries until the file changes, and a query that saw the file change
 * under it fails.
 */
export class FileReader implements TableReader {
  /** The latest check; a new one waits for the previous, so a file version is checked once. */
  private latest: Promise<CheckedTable> | undefined;

  constructor(
    private readonly host: ReaderHost,
    private readonly src: FileSource,
  ) {}

  async check(table: Table): Promise<TableReport> {
    const checked = await this.current(table, false);
    return { table: table.name, file: sourceName(this.src), rows: checked.rows, problems: checked.report() };
  }

  /** Values are never rounded: a value out of bounds or with more decimals than declared is a problem, not a number. */
  async prepare(table: Table, columns: readonly string[]): Promise<void> {
    await this.ready(table, columns, false);
  }

  read(side: TableSide, columns: readonly string[]): Promise<CheckedTable> {
    return this.ready(side.table, columns, false);
  }

  async release(): Promise<void> {}

  /** A query read the file as `checked` found it only if the file is still that version once the query is done. */
  async unchanged(checked: CheckedTable): Promise<void> {
    if ((await fileVersion(checked.file).catch(() => undefined))?.stamp !== checked.stamp) throw changedDuringQuery(checked);
  }

  /**
   * A read of a checked file failed, most likely because the file changed since its check: checking it again
   * names what is wrong now, by line. DuckDB's own message can quote a cell, so it is kept only as the cause.
   */
  async failure(table: Table, columns: readonly string[], err: unknown): Promise<CleanroomError> {
    try {
      const checked = await this.ready(table, columns, true);
      const detail = 'could not be read during the query though a check finds nothing wrong with it (it may have changed meanwhile); run the query again';
      return new DataInvalid(table.name, problemList([{ file: checked.file, rule: 'unreadable', detail }]), err);
    } catch (recheck) {
      return recheck instanceof CleanroomError ? recheck : new CleanroomError('INTERNAL', `checking ${table.name} again failed`, { cause: recheck });
    }
  }

  /**
   * The check of the table's current file version: the last one if the file is unchanged since (a stat), else a
   * new one. `again` checks even an unchanged-looking file, after a read that the last check said would work failed.
   */
  private current(table: Table, again: boolean): Promise<CheckedTable> {
    const previous = this.latest;
    const next = (async () => {
      const last = await previous?.catch(() => undefined);
      if (last && !again && (await fileVersion(this.src.path).catch(() => undefined))?.stamp === last.stamp) return last;
      return checkFile(this.host.db(), table, this.src).catch(async (err: unknown) => {
        await this.host.survive(err);
        throw err;
      });
    })();
    this.latest = next;
    return next;
  }

  private async ready(table: Table, columns: readonly string[], again: boolean): Promise<CheckedTable> {
    const checked = await this.current(table, again);
    const refusal = checked.refusal(columns);
    if (refusal) throw refusal;
    return checked;
  }
}
