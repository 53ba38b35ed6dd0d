import { aggregateText } from './expression.js';
import type { QueryPlan } from './plan.js';

/**
 * What a result's counts count, in one line: the same number reads as rows or as people depending on the query, and
 * a reader of the table alone cannot tell which. The node computes it once, from the plan, where it ends the query;
 * the CLI prints it under the table, `--json` and the saved result carry it as `counts`, the console shows it.
 */
export function countsText(plan: QueryPlan): string {
  const p = plan.aggregator.table.name;
  const others = plan.others.map((s) => s.table.name);
  // WHERE's conjuncts filter each side before the match: the counts are of what they keep.
  const where = [plan.aggregator, ...plan.others].some((s) => s.filters.length > 0) ? ', after WHERE' : '';
  if (plan.mode === 'count-only') return `COUNT(*) counts distinct people (normalised join keys) present in ${inEvery([p, ...others])}${where}`;
  const aggregates = plan.outputs.flatMap((o) => (o.kind === 'aggregate' ? [o.aggregate] : []));
  const holders = plan.mode === 'federated' ? ` (every holder's part: ${plan.holders.join(', ')})` : '';
  const matched = others.length === 0 ? '' : ` whose join key matched ${inEvery(others)}`;
  // With GROUP BY over the partner's table, a row counts in each of its key's partner groups: once in each.
  const once = plan.mode === 'aggregate' && plan.partnerGroups ? 'each row once per group it is in' : 'each row once';
  const however = others.length === 0 ? '' : `, however often its key appears ${others.length === 1 ? 'there' : 'in them'}`;
  const rows = `rows of ${p}${holders}${matched} (${once}${however})${where}`;
  const parts: string[] = [];
  if (aggregates.some((a) => a.fn === 'count')) parts.push(`COUNT(*) counts ${rows}`);
  else if (aggregates.some((a) => a.fn !== 'count-distinct')) parts.push(`the aggregates are over ${rows}`);
  for (const a of aggregates) if (a.fn === 'count-values') parts.push(`${aggregateText(a)} counts those with a value in ${a.column.column}`);
  if (aggregates.some((a) => a.fn === 'count-distinct')) parts.push(`${aggregates.filter((a) => a.fn === 'count-distinct').map(aggregateText).join(', ')} counts matched people (distinct normalised join keys)`);
  return parts.join('; ');
}

/** `publisher`, `publisher and shop`, `each of a, b and c`. */
function inEvery(tables: readonly string[]): string {
  if (tables.length === 1) return tables[0]!;
  const list = `${tables.slice(0, -1).join(', ')} and ${tables[tables.length - 1]}`;
  return tables.length === 2 ? `both ${list}` : `each of ${list}`;
}
