import type { Aggregate, ColumnRef, SelectItem } from './ast.js';
import type { Scope } from './from.js';
import { child, children, describe, invalid, list, text, type Node } from './tree.js';

const SELECT_FORMS = 'table.column dimensions, COUNT(*), COUNT(t.c), COUNT(DISTINCT t.joinkey), SUM(t.c) and AVG(t.c)';

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
  if (n.class === 'COLUMN_REF') {
    const column = scope.column(n);
    return { kind: 'dimension', column, name: alias || column.column };
  }
  if (n.class === 'FUNCTION') {
    const aggregate = aggregateCall(n, scope);
    return { kind: 'aggregate', aggregate, name: alias || defaultName(aggregate) };
  }
  if (n.class === 'STAR') throw invalid(`SELECT * is not supported: list ${SELECT_FORMS}`);
  throw invalid(`${describe(n)} is not supported in SELECT: allowed are ${SELECT_FORMS}`);
}

/**
 * COUNT(*), COUNT(t.c), COUNT(DISTINCT t.key), SUM(t.c) or AVG(t.c), wherever the query names an aggregate: SELECT,
 * HAVING, ORDER BY. DISTINCT is accepted in COUNT only; that it names a join key is the planner's rule.
 */
export function aggregateCall(n: Node, scope: Scope): Aggregate {
  const fn = text(n, 'function_name');
  if (text(n, 'schema') !== '' || text(n, 'catalog') !== '') throw invalid(`write ${fn.toUpperCase()} without a schema`);
  if (fn !== 'count_star' && fn !== 'count' && fn !== 'sum' && fn !== 'avg') {
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
  if (args.length !== 1 || arg?.class !== 'COLUMN_REF') {
    if (distinct) throw invalid('COUNT(DISTINCT ...) takes exactly one column, a join key, e.g. COUNT(DISTINCT t.joinkey); expressions are not supported');
    throw invalid(`${name} takes exactly one column, e.g. ${name}(t.c); expressions are not supported`);
  }
  const column = scope.column(arg);
  if (fn === 'count') return distinct ? { fn: 'count-distinct', column } : { fn: 'count-values', column };
  return { fn, column };
}

function defaultName(a: Aggregate): string {
  if (a.fn === 'count') return 'count';
  if (a.fn === 'count-values') return `count_${a.column.column}`;
  if (a.fn === 'count-distinct') return `count_distinct_${a.column.column}`;
  return `${a.fn}_${a.column.column}`;
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

/** GROUP BY: qualified columns only, and exactly the dimensions of SELECT. */
export function groupByClause(select: Node, items: readonly SelectItem[], scope: Scope): ColumnRef[] {
  if (select.aggregate_handling !== 'STANDARD_HANDLING') throw invalid('GROUP BY ALL is not supported: list the columns');
  const expressions = children(select, 'group_expressions');
  const oneSet = expressions.length === 0 ? '[]' : JSON.stringify([expressions.map((_, i) => i)]);
  if (JSON.stringify(select.group_sets) !== oneSet) {
    throw invalid('ROLLUP, CUBE, GROUPING SETS and GROUP BY () are not supported: list the columns');
  }
  const groupBy = expressions.map((n) => groupByColumn(n, scope));
  checkGrouping(items, groupBy);
  return groupBy;
}

function groupByColumn(n: Node, scope: Scope): ColumnRef {
  if (n.class === 'CONSTANT') throw invalid('GROUP BY by position is not supported: name the column, e.g. GROUP BY t.c');
  if (n.class !== 'COLUMN_REF') throw invalid(`${describe(n)} is not supported in GROUP BY: list table.column names`);
  return scope.column(n);
}

function checkGrouping(items: readonly SelectItem[], groupBy: readonly ColumnRef[]): void {
  const key = (c: ColumnRef) => `${c.table}.${c.column}`;
  const grouped = new Set(groupBy.map(key));
  const dimensions = new Set(items.flatMap((i) => (i.kind === 'dimension' ? [key(i.column)] : [])));
  for (const d of dimensions) {
    if (!grouped.has(d)) throw invalid(`${d} is selected but not grouped: add it to GROUP BY`);
  }
  for (const g of grouped) {
    if (!dimensions.has(g)) throw invalid(`GROUP BY ${g} is not selected: add it to SELECT`);
  }
}
