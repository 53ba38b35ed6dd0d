import type { Column, Table } from '../manifest/schema.js';
import type { Dimension, Literal } from '../query/ast.js';
import { conditionSql, duckdbPredicateSql } from './filter-sql.js';
import { quoteIdent } from './sql-text.js';

/**
 * A GROUP BY dimension as DuckDB computes it over a query side's typed rows (SPEC §5), its value already the label a
 * result carries: the column itself (labelled by its type, table-store.ts), the first day of its period as
 * `YYYY-MM-DD`, the field as an integer, or a CASE's label. DuckDB's session is in UTC (table-store.ts), its weeks
 * are ISO weeks (Monday) and its dow counts from Sunday = 0, which are SPEC §5's definitions.
 */
export function dimensionSql(d: Dimension, table: Table, bind: (lit: Literal, c: Column) => string): string {
  switch (d.kind) {
    case 'column':
      return quoteIdent(d.column.column);
    case 'date-trunc':
      return `CAST(CAST(date_trunc('${d.unit}', ${quoteIdent(d.column.column)}) AS DATE) AS VARCHAR)`;
    case 'extract':
      return `CAST(extract(${d.field} FROM ${quoteIdent(d.column.column)}) AS BIGINT)`;
    case 'case': {
      const label = (text: string) => bind({ type: 'string', value: text }, { name: '', type: 'string' });
      const when = d.branches.map((b) => `WHEN ${conditionSql(b.when, (p) => duckdbPredicateSql(p, columnOf(table, p.column.column), (lit) => bind(lit, columnOf(table, p.column.column))))} THEN ${label(b.then)}`);
      return `CASE ${when.join(' ')} ELSE ${d.otherwise === null ? 'NULL' : label(d.otherwise)} END`;
    }
  }
}

function columnOf(table: Table, name: string): Column {
  return table.columns.find((c) => c.name === name)!;
}
