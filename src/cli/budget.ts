import { BudgetLedger } from '../budget/ledger.js';
import { toText, fromDecimal } from '../dp/rational.js';
import type { Table } from '../manifest/schema.js';
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
    const budget = { epsilon: fromDecimal(p.budget.epsilon), refresh: p.budget.refresh };
    return [{ table: t.name, budget: toText(budget.epsilon), refresh: p.budget.refresh, spent: toText(ledger.spent(t.name, p.budget.refresh, now)), remaining: toText(ledger.remaining(t.name, budget, now)) }];
  });
  const charges = ledger.entries();
  if (opts.json) {
    out(JSON.stringify({ tables, charges }));
    return 0;
  }
  if (tables.length === 0) out('no table of this member has a privacy policy');
  else for (const line of formatTable({ columns: ['table', 'budget ε', 'refresh', 'spent this period', 'remaining'], rows: tables.map((t) => [t.table, t.budget, t.refresh, t.spent, t.remaining]) }).split('\n')) out(line);
  out('');
  if (charges.length === 0) out('no charges yet');
  else for (const line of formatTable({ columns: ['time (UTC)', 'query', 'table', 'ε'], rows: charges.map((c) => [c.time.slice(0, 19).replace('T', ' '), c.queryId.slice(0, 8), c.table, c.epsilon]) }).split('\n')) out(line);
  return 0;
}
