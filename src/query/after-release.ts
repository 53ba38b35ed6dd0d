import { compare, fromText, type Rational } from '../dp/rational.js';
import type { ComparisonOp, Literal, OutputTest } from './ast.js';
import { labelType } from './dimension.js';
import { dimensionTableOf, type QueryPlan } from './plan.js';
import { resultWarnings } from './noise-warnings.js';
import { compareLabelCells, type Cell, type QueryResult } from './result.js';

/**
 * HAVING, ORDER BY, LIMIT and OFFSET, applied by a receiver to the result table it assembled (SPEC §5). The groups
 * opened to it are the same with or without them: only what the result shows changes, so they reveal nothing beyond
 * the result (SPEC §7). Under a privacy policy they act on the noisy values, as any post-processing does, and the
 * result says so. Rows without ORDER BY, and rows tied under it, keep the label order assembleResult gives them;
 * DP intervals move with their rows. A DP result then carries the warnings of its rows' intervals (noise-warnings.ts).
 */
export function afterRelease(plan: QueryPlan, result: QueryResult): QueryResult {
  const shown = shape(plan, result);
  // The last reading of a DP result: which outputs' noise outweighs their values, among the rows shown.
  const warnings = shown.privacy ? resultWarnings(plan, shown) : [];
  return warnings.length > 0 ? { ...shown, warnings } : shown;
}

function shape(plan: QueryPlan, result: QueryResult): QueryResult {
  const clauses = plan.afterRelease;
  if (!clauses) return result;
  const aggregate = (output: number) => plan.outputs[output]?.kind === 'aggregate';
  // Aggregates and numeric labels (a decimal's is exact text) sort by value, other labels as text.
  const byValue = (output: number) => {
    const o = plan.outputs[output];
    return o?.kind === 'aggregate' || (o?.kind === 'dimension' && labelType(o.dimension, dimensionTableOf(plan, o.dimension)) === 'number');
  };
  const kept = result.rows.flatMap((row, i) => (clauses.having.every((h) => holds(row[h.output] ?? null, h.test)) ? [i] : []));
  const termsByValue = clauses.orderBy.map((o) => byValue(o.output));
  const keys = result.rows.map((row) => clauses.orderBy.map((o, k) => sortKey(row[o.output] ?? null, termsByValue[k]!)));
  // Array.prototype.sort is stable: ties keep the label order.
  kept.sort((x, y) => {
    for (const [k, o] of clauses.orderBy.entries()) {
      const c = compareKeys(keys[x]![k]!, keys[y]![k]!, o);
      if (c !== 0) return c;
    }
    return 0;
  });
  const shown = kept.slice(clauses.offset, clauses.limit === null ? undefined : clauses.offset + clauses.limit);
  const noisy = result.privacy ? noisyClauses(clauses, aggregate) : [];
  const privacy = result.privacy && { ...result.privacy, intervals: shown.map((i) => result.privacy!.intervals[i]!) };
  return {
    ...result,
    rows: shown.map((i) => result.rows[i]!),
    ...(privacy ? { privacy } : {}),
    afterRelease: { released: result.rows.length, ...(noisy.length > 0 ? { onNoisyValues: noisy } : {}) },
  };
}

const HOLDS: Readonly<Record<ComparisonOp, (c: number) => boolean>> = {
  '=': (c) => c === 0,
  '!=': (c) => c !== 0,
  '<': (c) => c < 0,
  '<=': (c) => c <= 0,
  '>': (c) => c > 0,
  '>=': (c) => c >= 0,
};

/** Whether a cell passes a HAVING test. A comparison with NULL is unknown in SQL, and HAVING keeps only what is true. */
function holds(cell: Cell, test: OutputTest): boolean {
  if (test.kind === 'null') return (cell === null) === test.isNull;
  if (cell === null) return false;
  const against = (lit: Literal) => compareWithLiteral(cell, lit);
  switch (test.kind) {
    case 'compare':
      return HOLDS[test.op](against(test.value));
    case 'in':
      return test.values.some((v) => against(v) === 0);
    case 'between':
      return against(test.low) >= 0 && against(test.high) <= 0;
  }
}

/** Text as WHERE compares it, by UTF-8 bytes; numbers (counts, exact decimal text) by exact value. */
function compareWithLiteral(cell: string | number, lit: Literal): number {
  if (lit.type === 'string') return Buffer.compare(Buffer.from(String(cell)), Buffer.from(lit.value));
  // Date and timestamp labels are written as their literals are (src/manifest/time-value.ts), a boolean label as
  // 'false' or 'true': the text orders them as their values.
  if (lit.type === 'date' || lit.type === 'timestamp') return Buffer.compare(Buffer.from(String(cell)), Buffer.from(lit.value));
  if (lit.type === 'boolean') return Buffer.compare(Buffer.from(String(cell)), Buffer.from(String(lit.value)));
  return compare(fromText(String(cell)), fromText(lit.value));
}

/** An aggregate or a numeric label sorts by its exact value (decimals are exact text), another label as text. */
type SortKey = { readonly kind: 'value'; readonly value: Rational } | { readonly kind: 'label'; readonly label: string | number } | null;

function sortKey(cell: Cell, byValue: boolean): SortKey {
  if (cell === null) return null;
  return byValue ? { kind: 'value', value: fromText(String(cell)) } : { kind: 'label', label: cell };
}

function compareKeys(x: SortKey, y: SortKey, o: { readonly descending: boolean; readonly nullsFirst: boolean }): number {
  if (x === null || y === null) return x === y ? 0 : (x === null) === o.nullsFirst ? -1 : 1;
  const c = x.kind === 'value' && y.kind === 'value' ? compare(x.value, y.value) : x.kind === 'label' && y.kind === 'label' ? compareLabelCells(x.label, y.label) : 0;
  return o.descending ? -c : c;
}

function noisyClauses(clauses: NonNullable<QueryPlan['afterRelease']>, aggregate: (output: number) => boolean): ('HAVING' | 'ORDER BY')[] {
  return [...(clauses.having.some((h) => aggregate(h.output)) ? ['HAVING' as const] : []), ...(clauses.orderBy.some((o) => aggregate(o.output)) ? ['ORDER BY' as const] : [])];
}
