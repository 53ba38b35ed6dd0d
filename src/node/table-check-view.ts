import type { TableDataView } from '../console/api.js';
import { describeProblem } from '../data/data-problem.js';
import type { TableStore } from '../data/table-store.js';
import type { TableSource } from '../data/table-source.js';
import type { Table } from '../manifest/schema.js';
import { checkTables } from './table-check.js';

/**
 * The console's view of this node's own tables (the Tables page): each one's source and what a check of every row
 * finds now, as `cleanroom check` prints it, values quoted, since the console is this node's operator's. A file is
 * checked again only when it changed since its last check (src/data/file-reader.ts).
 */
export async function tableCheckViews(store: TableStore, tables: readonly Table[], sources: Readonly<Record<string, TableSource>>): Promise<TableDataView[]> {
  const checked = await checkTables(store, tables);
  const checkedAt = new Date().toISOString();
  return checked.reports.map((r) => {
    const src = sources[r.table];
    return {
      table: r.table,
      kind: src?.kind === 'postgres' ? 'postgres' : 'file',
      source: r.file,
      ...(src && src.kind !== 'postgres' ? { format: src.format } : {}),
      ...(r.rows !== undefined ? { rows: Number(r.rows) } : {}),
      problems: r.problems.problems.map((p) => describeProblem(p, true)),
      total: r.problems.total,
      exact: r.problems.exact,
      unusable: checked.unusable.includes(r.table),
      checkedAt,
    };
  });
}
