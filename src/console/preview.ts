import { BudgetLedger } from '../budget/ledger.js';
import { toText } from '../dp/rational.js';
import { noisePlan, errorBound, shareHolders, ERROR_BOUND_MISS, type NoisePlan } from '../query/noise.js';
import type { QueryPlan } from '../query/plan.js';
import { KEYS, ROWS, formatScaled } from '../query/result.js';
import type { Preview } from './api.js';

/** What `cleanroom query --preview` prints and the console's Query page shows as you type. */
export async function preview(plan: QueryPlan, self: string, ledgerFile: string): Promise<Preview> {
  const noise = noisePlan(plan, shareHolders(plan));
  if (!noise) {
    return { mode: plan.mode, dp: false, charges: [], threshold: `${plan.minDistinctKeys} distinct join keys (exact counts)`, errors: [] };
  }
  const ledger = await BudgetLedger.read(ledgerFile);
  const charges = noise.privacy.charges.map((c) => ({
    table: c.table,
    owners: c.owners,
    epsilon: toText(noise.privacy.epsilon),
    budget: toText(c.budget.epsilon),
    refresh: c.budget.refresh,
    ...(c.owners.includes(self) ? { remaining: toText(ledger.remaining(c.table, c.budget)) } : {}),
  }));
  // Every group of a DP query is dealt (declared values, or the one group without GROUP BY): the minimum applies to
  // the noisy counts, and no group is chosen on data.
  const threshold = `${noise.threshold} (a group is released when its noisy distinct-key count reaches it)`;
  return { mode: plan.mode, dp: true, epsilon: toText(noise.privacy.epsilon), delta: toText(noise.privacy.delta), charges, threshold, errors: outputErrors(plan, noise) };
}

function outputErrors(plan: QueryPlan, noise: NoisePlan): { output: string; bound: string }[] {
  return plan.outputs.flatMap((item) => {
    if (item.kind !== 'aggregate') return [];
    const a = item.aggregate;
    if (a.fn === 'count') return [{ output: item.name, bound: `± ${errorBound(noise, plan.mode === 'count-only' ? KEYS : ROWS)} rows` }];
    const i = plan.sumColumns.indexOf(a.column.column);
    const c = plan.aggregator.table.columns.find((x) => x.name === a.column.column);
    const scale = c?.type === 'decimal' ? c.scale : 0;
    if (a.fn === 'sum') return [{ output: item.name, bound: `± ${formatScaled(errorBound(noise, 2 + 2 * i), scale)}` }];
    const half = ERROR_BOUND_MISS / 2;
    return [{ output: item.name, bound: `noisy sum ± ${formatScaled(errorBound(noise, 2 + 2 * i, half), scale)} over noisy count ± ${errorBound(noise, 3 + 2 * i, half)}; the result states each group's interval` }];
  });
}
