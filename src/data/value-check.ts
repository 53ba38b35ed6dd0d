import type { DuckDBConnection } from '@duckdb/node-api';
import { MAX_REPORTED_PROBLEMS } from '../limits.js';
import type { Table } from '../manifest/schema.js';
import { columnRules, type ColumnRule } from './column-rules.js';
import { problemList, type DataProblem, type ProblemList } from './data-problem.js';

/** One rule of one column of a table, checked over every row of its file. */
export interface RuleCheck extends ColumnRule {
  readonly column: string;
  /** The column's raw text, where the offending value is read from. */
  readonly raw: string;
}

/** A value that broke a rule: its position in the file (CSV record or Parquet row, from 1) and its text. */
export interface BadValue {
  readonly ordinal: number;
  readonly value: string;
}

/** The rules of every manifest column the file has (`raw`: column -> its text as a VARCHAR expression). */
export function ruleChecks(table: Table, raw: ReadonlyMap<string, string>): RuleCheck[] {
  return table.columns.flatMap((c) => {
    const text = raw.get(c.name);
    return text === undefined ? [] : columnRules(c, text).map((r) => ({ ...r, column: c.name, raw: text }));
  });
}

/** `, count(*) FILTER (...)` per check, to add to the select list of the pass that counts the file's rows. */
export function countsSql(checks: readonly RuleCheck[]): string {
  return checks.map((c) => `, count(*) FILTER (WHERE ${c.bad})`).join('');
}

/**
 * The first bad values of each check that found some, in file order. `numbered` is the file's rows with their
 * position as `ord`; only the bad rows are kept (materialised once), so a file with a few problems costs one pass.
 */
export async function locateBadValues(conn: DuckDBConnection, checks: readonly RuleCheck[], counts: readonly bigint[], numbered: string): Promise<Map<RuleCheck, BadValue[]>> {
  const failing = checks.filter((_, i) => counts[i]! > 0n);
  const found = new Map<RuleCheck, BadValue[]>(failing.map((c) => [c, []]));
  if (failing.length === 0) return found;
  const parts = failing.map((c, i) => `(SELECT ${i} AS k, ord, CAST(${c.raw} AS VARCHAR) AS v FROM bad WHERE ${c.bad} ORDER BY ord LIMIT ${MAX_REPORTED_PROBLEMS})`);
  const sql = `WITH bad AS MATERIALIZED (SELECT * FROM (${numbered}) WHERE ${failing.map((c) => `(${c.bad})`).join(' OR ')}) ${parts.join(' UNION ALL ')}`;
  for (const [k, ord, v] of (await conn.runAndReadAll(sql)).getRows()) {
    found.get(failing[Number(k)]!)!.push({ ordinal: Number(ord), value: v === null ? '' : String(v) });
  }
  return found;
}

/** Adds each check's bad values to its column's problems, counted in full; `at` places an ordinal in the file. */
export function addValueProblems(
  byColumn: Map<string, ProblemList>,
  file: string,
  checks: readonly RuleCheck[],
  counts: readonly bigint[],
  bad: ReadonlyMap<RuleCheck, readonly BadValue[]>,
  at: (ordinal: number) => Pick<DataProblem, 'line' | 'row'>,
): void {
  checks.forEach((check, i) => {
    const found = bad.get(check);
    if (!found) return;
    const problems = found.map((v) => ({ file, ...at(v.ordinal), column: check.column, rule: check.rule, detail: check.detail, value: v.value }));
    const before = byColumn.get(check.column);
    byColumn.set(check.column, problemList([...(before?.problems ?? []), ...problems], (before?.total ?? 0) + Number(counts[i]!)));
  });
}
