import { BudgetLedger, costOf } from '../budget/ledger.js';
import { amountText, unitSymbol } from '../dp/accounting.js';
import { toText } from '../dp/rational.js';
import type { Table } from '../manifest/schema.js';
import { tableBudget } from '../query/privacy-plan.js';
import { queriesLeft, queriesLeftText } from '../query/queries-left.js';
import { formatTable } from './table.js';

/**
 * `cleanroom budget <dir>`: every own table with a privacy policy (its budget, refresh, what this period spent and
 * what remains) and then every charge in the ledger. `out` takes one line at a time.
 */
export async function budgetCommand(ledgerFile: string, ownTables: readonly Table[], opts: { json: boolean }, out: (s: string) => void): Promise<number> {
  const ledger = await BudgetLedger.read(ledgerFile);
  const now = new Date();
  const tables = ownTables.flatMap((t) => {
    const p = t.rules.privacy;
    if (!p) return [];
    const budget = tableBudget(p);
    const remaining = ledger.remaining(t.name, budget, now);
    const left = queriesLeft(t, remaining);
    return [{ table: t.name, unit: unitSymbol(budget.unit), budget: toText(budget.amount), refresh: p.budget.refresh, spent: toText(ledger.spent(t.name, budget, now)), remaining: toText(remaining), perQuery: toText(left.perQuery.amount), queriesLeft: Number(left.queries), buys: queriesLeftText(t, left, remaining) }];
  });
  const charges = ledger.entries();
  if (opts.json) {
    out(JSON.stringify({ tables, charges }));
    return 0;
  }
  if (tables.length === 0) out('no table of this member has a privacy policy');
  else for (const line of formatTable({ columns: ['table', 'budget', 'refresh', 'spent this period', 'remaining'], rows: tables.map((t) => [t.table, `${t.unit} = ${t.budget}`, t.refresh, t.spent, t.remaining]) }).split('\n')) out(line);
  // How far the rest goes, in queries: what a budget means to whoever asks.
  for (const t of tables) out(`${t.table}: ${t.buys}`);
  out('');
  if (charges.length === 0) out('no charges yet');
  else for (const line of formatTable({ columns: ['time (UTC)', 'query', 'table', 'cost'], rows: charges.map((c) => [c.time.slice(0, 19).replace('T', ' '), c.queryId.slice(0, 8), c.table, amountText(costOf(c).unit, costOf(c).amount)]) }).split('\n')) out(line);
  return 0;
}
