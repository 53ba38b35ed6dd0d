import type { Aggregate, Dimension, SelectItem, ValueFunction } from './ast.js';
import { dimensionName, dimensionOf, dimensionText, sameDimension } from './dimension.js';
import { expressionTable, numericExpression } from './expression.js';
import type { Scope } from './from.js';
import { child, children, describe, invalid, list, text, type Node } from './tree.js';

const SELECT_FORMS = "dimensions (t.c, date_trunc('week', t.d), extract(month FROM t.d), CASE WHEN ... THEN 'label' END), COUNT(*), COUNT(t.c), COUNT(DISTINCT t.joinkey), and SUM, AVG, VAR_SAMP, VAR_POP, STDDEV_SAMP, STDDEV_POP of a column or an arithmetic expression";

/** The aggregate functions and the aliases DuckDB gives two of them (variance, stddev), by the name the tree writes. */
const VALUE_FUNCTIONS: ReadonlyMap<string, ValueFunction> = new Map([
  ['sum', 'sum'],
  ['avg', 'avg'],
  ['var_samp', 'var_samp'],
  ['variance', 'var_samp'],
  ['var_pop', 'var_pop'],
  ['stddev_samp', 'stddev_samp'],
  ['stddev', 'stddev_samp'],
  ['stddev_pop', 'stddev_pop'],
]);

export function selectList(items: readonly Node[], scope: Scope): SelectItem[] {
  const select = items.map((n) => selectItem(n, scope));
  if (!select.some((item) => item.kind === 'aggregate')) {
    throw invalid('SELECT needs at least one aggregate: COUNT(*), COUNT(t.c), COUNT(DISTINCT t.joinkey), SUM(t.c) or AVG(t.c)');
  }
  checkUniqueNames(select);
  return select;
}

function selectItem(n: Node, scope: Scope): SelectItem {
  const alias = text(n, 'alias');
  if (n.class === 'STAR') throw invalid(`SELECT * is not supported: list ${SELECT_FORMS}`);
  if (n.class === 'COLUMN_REF' || n.class === 'CASE' || isDimensionFunction(n)) {
    const dimension = dimensionOf(n, scope, 'SELECT');
    return { kind: 'dimension', dimension, name: alias || dimensionName(dimension) };
  }
  if (n.class === 'FUNCTION') {
    const aggregate = aggregateCall(n, scope);
    return { kind: 'aggregate', aggregate, name: alias || defaultName(aggregate) };
  }
  throw invalid(`${describe(n)} is not supported in SELECT: allowed are ${SELECT_FORMS}`);
}

function isDimensionFunction(n: Node): boolean {
  return n.class === 'FUNCTION' && (text(n, 'function_name') === 'date_trunc' || text(n, 'function_name') === 'date_part');
}

/**
 * COUNT(*), COUNT(t.c), COUNT(DISTINCT t.key), or SUM, AVG, VAR_SAMP (variance), VAR_POP, STDDEV_SAMP (stddev) or
 * STDDEV_POP of a column or an arithmetic expression (src/query/expression.ts), wherever the query names an
 * aggregate: SELECT, HAVING, ORDER BY. DISTINCT is accepted in COUNT only; that it names a join key is the planner's
 * rule. A bare column, parenthesised or not, is the column form.
 */
export function aggregateCall(n: Node, scope: Scope): Aggregate {
  const fn = text(n, 'function_name');
  if (text(n, 'schema') !== '' || text(n, 'catalog') !== '') throw invalid(`write ${fn.toUpperCase()} without a schema`);
  if (fn !== 'count_star' && fn !== 'count' && !VALUE_FUNCTIONS.has(fn)) {
    throw invalid(`${describe(n)} is not supported in SELECT: allowed are ${SELECT_FORMS}`);
  }
  const name = fn === 'count_star' ? 'COUNT' : fn.toUpperCase();
  const distinct = n.distinct === true;
  if (distinct && fn !== 'count') throw invalid(`${name}(DISTINCT ...) is not supported: DISTINCT is allowed only as COUNT(DISTINCT t.joinkey)`);
  if (n.filter !== null) throw invalid(`${name}(...) FILTER (WHERE ...) is not supported: put conditions in WHERE`);
  if (list(child(n, 'order_bys'), 'orders').length > 0) throw invalid(`ORDER BY inside ${name}(...) is not supported`);
  if (n.export_state === true) throw invalid('EXPORT_STATE is not supported');
  if (fn === 'count_star') return { fn: 'count' };
  const args = children(n, 'children');
  const [arg] = args;
  const value = VALUE_FUNCTIONS.get(fn);
  if (value !== undefined && args.length === 1 && arg !== undefined) {
    const e = numericExpression(arg, scope, name);
    return e.kind === 'column' ? { fn: value, column: e.column } : { fn: value, expression: e, table: expressionTable(e) };
  }
  if (args.length !== 1 || arg?.class !== 'COLUMN_REF') {
    if (distinct) throw invalid('COUNT(DISTINCT ...) takes exactly one column, a join key, e.g. COUNT(DISTINCT t.joinkey); expressions are not supported');
    if (value !== undefined) throw invalid(`${name} takes exactly one argument, a column or an arithmetic expression, e.g. ${name}(t.c) or ${name}(t.a * t.b)`);
    throw invalid(`${name} takes exactly one column, e.g. ${name}(t.c); expressions are not supported`);
  }
  const column = scope.column(arg);
  return distinct ? { fn: 'count-distinct', column } : { fn: 'count-values', column };
}

function defaultName(a: Aggregate): string {
  if (a.fn === 'count') return 'count';
  if (a.fn === 'count-values') return `count_${a.column.column}`;
  if (a.fn === 'count-distinct') return `count_distinct_${a.column.column}`;
  // Of an expression: the function's name alone (sum, avg, var_samp, …); a second one needs an alias.
  return 'column' in a ? `${a.fn}_${a.column.column}` : a.fn;
}

function checkUniqueNames(select: readonly SelectItem[]): void {
  const seen = new Set<string>();
  for (const { name } of select) {
    // DuckDB, which runs the local part of the query, does not tell Total from total.
    const key = name.toLowerCase();
    if (seen.has(key)) throw invalid(`two output columns are named ${name}; give one an alias (... AS other_name)`);
    seen.add(key);
  }
}

/** GROUP BY: dimensions only, and exactly the dimensions of SELECT. */
export function groupByClause(select: Node, items: readonly SelectItem[], scope: Scope): Dimension[] {
  if (select.aggregate_handling !== 'STANDARD_HANDLING') throw invalid('GROUP BY ALL is not supported: list the columns');
  const expressions = children(select, 'group_expressions');
  const oneSet = expressions.length === 0 ? '[]' : JSON.stringify([expressions.map((_, i) => i)]);
  if (JSON.stringify(select.group_sets) !== oneSet) {
    throw invalid('ROLLUP, CUBE, GROUPING SETS and GROUP BY () are not supported: list the columns');
  }
  const groupBy = expressions.map((n) => dimensionOf(n, scope, 'GROUP BY'));
  checkGrouping(items, groupBy);
  return groupBy;
}

function checkGrouping(items: readonly SelectItem[], groupBy: readonly Dimension[]): void {
  const dimensions = items.flatMap((i) => (i.kind === 'dimension' ? [i.dimension] : []));
  for (const d of dimensions) {
    if (!groupBy.some((g) => sameDimension(g, d))) throw invalid(`${dimensionText(d)} is selected but not grouped: add it to GROUP BY`);
  }
  for (const g of groupBy) {
    if (!dimensions.some((d) => sameDimension(g, d))) throw invalid(`GROUP BY ${dimensionText(g)} is not selected: add it to SELECT`);
  }
  groupBy.forEach((g, i) => {
    if (groupBy.findIndex((x) => sameDimension(x, g)) !== i) throw invalid(`GROUP BY lists ${dimensionText(g)} twice`);
  });
}
