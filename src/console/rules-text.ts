import { amountText } from '../dp/accounting.js';
import { holdersOf, joinKeysOf, type Column, type Table } from '../manifest/schema.js';
import { accountingOf, tableBudget } from '../query/privacy-plan.js';
import type { ColumnView } from './api.js';

/** A table's analysis rule as a privacy officer reads it: what may be aggregated, filtered, grouped, and by whom. */
export function describeRules(t: Table): string[] {
  const r = t.rules;
  const list = (xs: readonly string[]) => (xs.length === 0 ? 'none' : xs.join(', '));
  const lines = [
    `May be aggregated: COUNT(*) always${r.aggregations.map((a) => `; ${a.functions.map((f) => f.toUpperCase()).join(' and ')} of ${a.column}`).join('')}.`,
    `May be filtered (WHERE) and grouped (GROUP BY) by: ${list(r.dimensions)}. The join keys never.`,
    `Joined on ${joinKeysOf(t).map((k) => `${k.column}, normalised as ${k.normalization}`).join('; or ')}.`,
    `Every released row rests on at least ${r.minDistinctKeys} distinct join keys; smaller groups are dropped before any value is opened.`,
  ];
  if (r.overlapDisclosure.length === 0) lines.push('No member may learn which of its own keys are in this table.');
  for (const g of r.overlapDisclosure) {
    const member = typeof g === 'string' ? g : g.member;
    const filters = typeof g === 'string' ? [] : g.filters;
    lines.push(`${member} may learn which of its own keys are in this table${filters.length === 0 ? ', unfiltered only' : `, filtered by ${filters.join(', ')} at most`}.`);
  }
  if (t.holders) lines.push(`Held in parts by ${holdersOf(t).join(', ')}: queries reveal totals over all parts, never one holder's own.`);
  return lines;
}

/** The privacy policy, when the table has one: what each query may reveal and what the table may reveal in all. */
export function describePrivacy(t: Table): string[] | undefined {
  const p = t.rules.privacy;
  if (!p) return undefined;
  return [
    `Differentially private: every query touching this table releases noisy values only, ε = ${p.epsilon} and δ = ${p.delta} per query.`,
    `One person is one distinct join key; rows beyond ${p.maxRowsPerKey} per person are dropped.`,
    `The owner's budget is ε = ${p.budget.epsilon} in all${p.budget.refresh === 'month' ? ', restored on the first of each month (UTC)' : ', never restored'}.`,
    accountingOf(p) === 'zcdp'
      ? `Queries add up in zCDP (discrete Gaussian noise): each costs ρ, the budget is ${amountText('rho', tableBudget(p).amount)}, so the period's queries together are (ε = ${p.budget.epsilon}, δ = ${p.delta} plus each query's own share of δ)-DP.`
      : 'Queries add up in ε (discrete Laplace noise): each costs its ε.',
  ];
}

export function describeColumn(t: Table, c: Column): ColumnView {
  const parts: string[] = [];
  if (joinKeysOf(t).some((k) => k.column === c.name)) parts.push('join key');
  if (c.type === 'integer') parts.push(`from ${c.min} to ${c.max}`);
  if (c.type === 'decimal') parts.push(`from ${c.min} to ${c.max}, ${c.scale} decimal place(s)`);
  if ((c.type === 'date' || c.type === 'timestamp') && (c.min !== undefined || c.max !== undefined)) {
    parts.push([...(c.min === undefined ? [] : [`from ${c.min}`]), ...(c.max === undefined ? [] : [`${c.min === undefined ? 'up ' : ''}to ${c.max}`])].join(' '));
  }
  if (c.type === 'timestamp') parts.push('UTC');
  if (c.type !== 'string' && c.required) parts.push('required (no NULL)');
  if (c.type === 'string' && c.values) parts.push(`one of ${c.values.join(', ')}`);
  return { name: c.name, type: c.type, detail: parts.join('; ') };
}
