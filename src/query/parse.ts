import { MAX_SQL_LENGTH as MAX_QUERY_LENGTH } from '../limits.js';
import { afterReleaseClauses } from './after-release-syntax.js';
import type { Query } from './ast.js';
import { parseSelect } from './duckdb-parser.js';
import { fromClause } from './from.js';
import { groupByClause, selectList } from './select.js';
import { child, children, invalid, list, optionalChild, type Node } from './tree.js';
import { whereClause } from './where.js';

/** The one SQL length limit (src/limits.ts), under the name the parser's callers know. */
export { MAX_SQL_LENGTH as MAX_QUERY_LENGTH } from '../limits.js';

const SUBSET =
  'queries are SELECT [t.c, ...] COUNT(*) | SUM(t.c) | AVG(t.c) FROM a JOIN b ON a.k = b.k [WHERE ...] [GROUP BY t.c, ...] [HAVING ...] [ORDER BY ...] [LIMIT n [OFFSET m]]';

// ORDER BY and LIMIT (with OFFSET) are read by afterReleaseClauses; every other modifier is refused.
const READ_MODIFIERS: ReadonlySet<string> = new Set(['ORDER_MODIFIER', 'LIMIT_MODIFIER']);
const MODIFIERS: ReadonlyMap<string, string> = new Map([
  ['DISTINCT_MODIFIER', 'DISTINCT'],
  ['LIMIT_PERCENT_MODIFIER', 'LIMIT with a percentage'],
]);

/**
 * Parses one query of the subset of SPEC §5 into a Query, or throws CleanroomError QUERY_INVALID
 * saying what was found and what is allowed. Checks syntax only: the collaboration's rules are
 * applied to the result elsewhere.
 */
export async function parseQuery(sql: string): Promise<Query> {
  if (sql.length > MAX_QUERY_LENGTH) {
    throw invalid(`the query is ${sql.length} characters long; at most ${MAX_QUERY_LENGTH} are accepted`);
  }
  const select = await parseSelect(sql);
  rejectClauses(select);
  const { scope, joins } = fromClause(child(select, 'from_table'));
  const items = selectList(children(select, 'select_list'), scope);
  const where = whereClause(optionalChild(select, 'where_clause'), scope);
  const groupBy = groupByClause(select, items, scope);
  const afterRelease = afterReleaseClauses(select, scope);
  return { select: items, tables: scope.tables, joins, where, groupBy, ...(afterRelease ? { afterRelease } : {}) };
}

/** Clauses of a SELECT outside the subset; each is present in the tree only when written. */
function rejectClauses(select: Node): void {
  for (const { type } of children(select, 'modifiers')) {
    if (READ_MODIFIERS.has(String(type))) continue;
    throw invalid(`${MODIFIERS.get(String(type)) ?? String(type)} is not supported: ${SUBSET}`);
  }
  if (list(child(select, 'cte_map'), 'map').length > 0) throw invalid(`WITH (common table expressions) is not supported: ${SUBSET}`);
  if (select.qualify !== null) throw invalid(`QUALIFY is not supported: ${SUBSET}`);
  if (select.sample !== null) throw invalid(`SAMPLE and TABLESAMPLE are not supported: ${SUBSET}`);
}
