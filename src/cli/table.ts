import { oneLine } from '../errors.js';
import { type QueryResult } from '../query/result.js';

/**
 * A result as an aligned text table; numbers right-aligned, NULL shown as such. Every cell is kept on one line and
 * free of terminal escapes: group labels are other members' data, and must not forge rows or rewrite the screen.
 */
export function formatTable(result: Pick<QueryResult, 'columns' | 'rows'>): string {
  const cells = [result.columns.map((c) => oneLine(String(c))), ...result.rows.map((r) => r.map((c) => (c === null ? 'NULL' : oneLine(String(c)))))];
  const numeric = result.columns.map((_, i) => result.rows.length > 0 && result.rows.every((r) => r[i] === null || typeof r[i] === 'number' || /^-?\d+(\.\d+)?$/.test(String(r[i]))));
  const widths = result.columns.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** What a clause that acted on noisy values means for the rows shown (SPEC §10.2, "Reading a result"). */
const NOISY_CLAUSES = {
  HAVING: 'HAVING tested the noisy values: a group whose exact value fails it may be shown, and one that passes it left out',
  'ORDER BY': 'ORDER BY sorted the noisy values: rows may stand out of their exact order',
} as const;

/**
 * A result as the CLI prints it: the table, then what it rests on. A DP result shows every aggregate with the
 * interval that holds its exact value with the stated confidence.
 */
export function formatResult(result: QueryResult): string {
  const privacy = result.privacy;
  const rows = privacy
    ? result.rows.map((r, i) => r.map((c, j) => {
        const iv = privacy.intervals[i]?.[j];
        return iv && c !== null ? `${c} (${iv[0]} to ${iv[1]})` : c;
      }))
    : result.rows;
  const note = privacy
    ? `differentially private: ε = ${privacy.epsilon}, δ = ${privacy.delta}; each value's exact answer lies in its interval with probability at least ${privacy.confidence * 100}%; groups are released on noisy counts (the preview says which)`
    : `rows resting on fewer than ${result.minDistinctKeys} distinct join keys are never released`;
  const shaped = result.afterRelease;
  const count = shaped ? `${result.rows.length} row(s) shown of ${shaped.released} released` : `${result.rows.length} row(s)`;
  const noisy = (shaped?.onNoisyValues ?? []).map((clause) => NOISY_CLAUSES[clause]);
  // What the counts count, on a line of its own (src/query/counts-text.ts); a result saved before it was said has none.
  const counts = result.counts === undefined ? '' : `\n${oneLine(result.counts)}`;
  // Outputs whose noise outweighs their values (src/query/noise-warnings.ts), one line each.
  const warnings = (result.warnings ?? []).map((w) => `\nwarning: ${oneLine(w.message)}`).join('');
  return `${formatTable({ columns: result.columns, rows })}\n(${[count, note, ...noisy].join('; ')})${counts}${warnings}`;
}
