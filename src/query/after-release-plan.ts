import { CleanroomError, RuleViolation } from '../errors.js';
import type { Table } from '../manifest/schema.js';
import type { AfterReleaseClauses, Dimension, Literal, OutputRef, OutputTest, SelectItem } from './ast.js';
import { aggregateText } from './expression.js';
import { dimensionText, labelType, sameDimension } from './dimension.js';

/**
 * HAVING, ORDER BY, LIMIT and OFFSET as the planner accepts them: every reference resolved to an output column
 * (its index in the outputs). Each receiver applies them to the result table it holds (src/query/after-release.ts);
 * the groups opened, and to whom, are the same as without them (SPEC §5, §7).
 */
export interface AfterRelease {
  readonly having: readonly { readonly output: number; readonly test: OutputTest }[];
  readonly orderBy: readonly { readonly output: number; readonly descending: boolean; readonly nullsFirst: boolean }[];
  readonly limit: number | null;
  readonly offset: number;
}

/**
 * Checks the clauses against the outputs: they may name only what the query releases, since a value it does not
 * output would have to be opened to be tested. `tableOf` names the table each dimension reads (P's or, SPEC §4.6, the partner's).
 */
export function afterReleasePlan(clauses: AfterReleaseClauses, outputs: readonly SelectItem[], tableOf: (d: Dimension) => Table): AfterRelease {
  return {
    having: clauses.having.map((c) => {
      const output = outputIndex(c.output, outputs, 'HAVING');
      checkTest(c.test, outputs[output]!, tableOf);
      return { output, test: c.test };
    }),
    orderBy: clauses.orderBy.map((o) => ({ output: outputIndex(o.output, outputs, 'ORDER BY'), descending: o.descending, nullsFirst: o.nullsFirst })),
    limit: clauses.limit,
    offset: clauses.offset,
  };
}

function outputIndex(ref: OutputRef, outputs: readonly SelectItem[], clause: string): number {
  // Output names are unique ignoring case (select.ts), as DuckDB resolves them.
  const i = outputs.findIndex((o) => {
    if (ref.kind === 'name') return o.name.toLowerCase() === ref.name.toLowerCase();
    if (ref.kind === 'dimension') return o.kind === 'dimension' && sameDimension(o.dimension, ref.dimension);
    // The parser's trees: VARIANCE(t.c) is VAR_SAMP(t.c), and parentheses and spacing do not count.
    return o.kind === 'aggregate' && JSON.stringify(o.aggregate) === JSON.stringify(ref.aggregate);
  });
  if (i >= 0) return i;
  if (ref.kind === 'name') {
    throw new CleanroomError('QUERY_INVALID', `${clause} ${ref.name}: no output column is named ${ref.name}; the outputs are ${outputs.map((o) => o.name).join(', ')}`);
  }
  const named = ref.kind === 'dimension' ? dimensionText(ref.dimension) : aggregateText(ref.aggregate);
  throw new RuleViolation(
    'privacy-model.after-release',
    `${clause} names ${named}, which the query does not output: HAVING and ORDER BY act on the released result only`,
    `the outputs, by name or as SELECT writes them: ${outputs.map((o) => `${o.name} (${o.kind === 'dimension' ? dimensionText(o.dimension) : aggregateText(o.aggregate)})`).join(', ')}`,
  );
}

/**
 * A HAVING literal must be of its output's type: numbers for aggregates and numeric labels, strings for text labels,
 * DATE, TIMESTAMP or a boolean for labels of those types.
 */
function checkTest(test: OutputTest, output: SelectItem, tableOf: (d: Dimension) => Table): void {
  const literals: readonly Literal[] = test.kind === 'compare' ? [test.value] : test.kind === 'in' ? test.values : test.kind === 'between' ? [test.low, test.high] : [];
  const want = output.kind === 'dimension' ? labelType(output.dimension, tableOf(output.dimension)) : 'number';
  for (const lit of literals) {
    if (lit.type !== want) {
      const found = lit.type === 'string' ? `'${lit.value}'` : lit.type === 'date' || lit.type === 'timestamp' ? `${lit.type.toUpperCase()} '${lit.value}'` : String(lit.value);
      const what = output.kind !== 'dimension' ? 'an aggregate' : labelOf(output.dimension, tableOf(output.dimension));
      throw new CleanroomError('QUERY_INVALID', `HAVING ${output.name} is ${what}; compare it with a ${want} literal, not ${found}`);
    }
  }
}

function labelOf(d: Dimension, table: Table): string {
  if (d.kind !== 'column') return `a ${labelType(d, table)} label of ${dimensionText(d)}`;
  return `a label of the ${table.columns.find((c) => c.name === d.column.column)?.type} column ${d.column.table}.${d.column.column}`;
}
