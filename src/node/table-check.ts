import { describeProblems } from '../data/data-problem.js';
import type { TableReport, TableStore } from '../data/table-store.js';
import { joinKeysOf, type Table } from '../manifest/schema.js';

/** Every own table checked row by row, and what that means for the queries the node can serve. */
export interface TablesChecked {
  readonly reports: readonly TableReport[];
  /**
   * Tables no query can use: their file is unreadable or malformed, or their join key breaks its declaration. A
   * table in a database is never among them: it is read again by every query, so a server that is down or a
   * grant that is missing now refuses queries only until it is fixed.
   */
  readonly unusable: readonly string[];
  /** One line per table, for the operator: its rows, or every problem found (with the values, for the operator). */
  readonly lines: readonly string[];
}

/**
 * Reads every row of every table this node holds against the manifest, all problems at once. A problem in a column
 * only refuses the queries that use that column (SPEC §4.1); a problem in the file itself or in the join key, which
 * every query uses, makes the table unusable.
 */
export async function checkTables(store: TableStore, tables: readonly Table[]): Promise<TablesChecked> {
  const reports = await store.check(tables);
  const unusable = reports.filter((r) => !r.database && r.problems.problems.some((p) => p.column === undefined || joinKeysOf(tableOf(tables, r.table)).some((k) => k.column === p.column))).map((r) => r.table);
  const lines = reports.map((r) =>
    r.problems.total === 0
      ? `table ${r.table} (${r.file}): ${r.rows ?? 0n} row(s), every row as the manifest declares`
      : `table ${r.table}: ${r.problems.total} problem(s)${unusable.includes(r.table) ? ', no query can use it' : r.database ? '; queries that use it are refused while it lasts (every query reads the table again)' : '; queries that use the columns named are refused'}: ${describeProblems(r.problems, true)}`,
  );
  return { reports, unusable, lines };
}

function tableOf(tables: readonly Table[], name: string): Table {
  return tables.find((t) => t.name === name)!;
}
