import { CleanroomError } from '../errors.js';
import type { Table } from '../manifest/schema.js';
import type { TableSide } from '../query/plan.js';
import { CheckedTable } from './checked-table.js';
import { DataInvalid, problemList } from './data-problem.js';
import { checkPostgresSchema, snapshotName, snapshotPostgres } from './postgres-snapshot.js';
import type { ReaderHost, TableReader, TableReport } from './table-reader.js';
import { sourceName, type PostgresSource } from './table-source.js';

/**
 * A table in PostgreSQL: read afresh by every query side, filtered and projected inside the database, into a
 * DuckDB table of its own (a snapshot, checked row by row as it arrives) that the side's reads share and `release`
 * drops. A snapshot never changes.
 */
export class PostgresReader implements TableReader {
  /** The snapshot each query side reads, until `release`. */
  private readonly snapshots = new Map<TableSide, { readonly name: string; readonly columns: readonly string[]; readonly checked: Promise<CheckedTable> }>();

  constructor(
    private readonly host: ReaderHost,
    private readonly src: PostgresSource,
  ) {}

  /** Every row of every declared column, read and dropped. */
  async check(table: Table): Promise<TableReport> {
    const name = snapshotName();
    const conn = await this.host.db().connect();
    try {
      const checked = new CheckedTable(table, sourceName(this.src), name, await snapshotPostgres(conn, table, this.src, { columns: table.columns.map((c) => c.name), filters: [] }, name));
      return { table: table.name, file: sourceName(this.src), rows: checked.rows, problems: checked.report(), database: true };
    } finally {
      conn.closeSync();
      await this.host.dropTable(name);
    }
  }

  /** Only the schema: the rows are checked as a query reads them. */
  async prepare(table: Table, columns: readonly string[]): Promise<void> {
    const refusal = new CheckedTable(table, sourceName(this.src), '', await checkPostgresSchema(table, this.src, columns)).refusal(columns);
    if (refusal) throw refusal;
  }

  /** The side's snapshot, taken at its first read with the columns the whole query needs. */
  async read(side: TableSide, columns: readonly string[]): Promise<CheckedTable> {
    let snapshot = this.snapshots.get(side);
    if (!snapshot) {
      const name = snapshotName();
      const checked = this.snapshot(side, columns, name);
      checked.catch(() => {});
      snapshot = { name, columns, checked };
      this.snapshots.set(side, snapshot);
    }
    const missing = columns.filter((c) => !snapshot.columns.includes(c));
    if (missing.length > 0) throw new CleanroomError('INTERNAL', `a query side read ${missing.join(', ')} of ${side.table.name}, which its first read left out`);
    const checked = await snapshot.checked;
    const refusal = checked.refusal(columns);
    if (refusal) throw refusal;
    return checked;
  }

  async release(side: TableSide): Promise<void> {
    const snapshot = this.snapshots.get(side);
    if (!snapshot) return;
    this.snapshots.delete(side);
    await snapshot.checked.catch(() => {});
    await this.host.dropTable(snapshot.name);
  }

  async unchanged(): Promise<void> {}

  async failure(table: Table, _columns: readonly string[], err: unknown): Promise<CleanroomError> {
    return new DataInvalid(table.name, problemList([{ file: sourceName(this.src), rule: 'unreadable', detail: 'could not be read during the query; run the query again' }]), err);
  }

  private async snapshot(side: TableSide, columns: readonly string[], name: string): Promise<CheckedTable> {
    const conn = await this.host.db().connect();
    try {
      // read() refuses, for the columns each read needs.
      return new CheckedTable(side.table, sourceName(this.src), name, await snapshotPostgres(conn, side.table, this.src, { columns, filters: side.filters }, name));
    } finally {
      conn.closeSync();
    }
  }
}
