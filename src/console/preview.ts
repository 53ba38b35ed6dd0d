import { BudgetLedger } from '../budget/ledger.js';
import { amountText } from '../dp/accounting.js';
import { toText } from '../dp/rational.js';
import { assertNoiseStatable, noisePlan, errorBound, noiseAdders, ERROR_BOUND_MISS, type NoisePlan } from '../query/noise.js';
import { previewWarnings } from '../query/noise-warnings.js';
import type { QueryPlan } from '../query/plan.js';
import { ROWS, outputSlots } from '../query/group-vector.js';
import { formatScaled } from '../query/result.js';
import type { Preview } from './api.js';

/** What `cleanroom query --preview` prints and the console's Query page shows as you type. */
export async function preview(plan: QueryPlan, self: string, ledgerFile: string): Promise<Preview> {
  const noise = noisePlan(plan, noiseAdders(plan));
  if (!noise) {
    return { mode: plan.mode, dp: false, charges: [], threshold: `${plan.minDistinctKeys} distinct join keys (exact counts)`, errors: [], warnings: [] };
  }
  // A sum of squares over wide bounds can carry noise too wide to state: the node refuses the query, and so does this.
  assertNoiseStatable(noise);
  const ledger = await BudgetLedger.read(ledgerFile);
  const charges = noise.privacy.charges.map((c) => ({
    table: c.table,
    owners: c.owners,
    cost: amountText(c.cost.unit, c.cost.amount),
    budget: amountText(c.budget.unit, c.budget.amount),
    refresh: c.budget.refresh,
    ...(c.owners.includes(self) ? { remaining: toText(ledger.remaining(c.table, c.budget)) } : {}),
  }));
  // Every group of a DP query is dealt (declared values, or the one group without GROUP BY): the minimum applies to
  // the noisy counts, and no group is chosen on data.
  const counted = noise.thresholdColumn === ROWS ? 'matched-row count (COUNT(*))' : 'distinct-key count';
  const unguarded = [plan.aggregator, ...plan.others].filter((s) => !s.table.rules.privacy).map((s) => s.table.name);
  const perPerson = noise.thresholdColumn === ROWS ? `, at most ${noise.privacy.maxRowsPerKey} row(s) each` : '';
  const raised = unguarded.length > 0 ? `; ${unguarded.join(', ')} has no policy, so its minimum of ${plan.minDistinctKeys} distinct people holds${perPerson}, with a margin for the noise: a smaller group passes with probability at most δ` : '';
  const threshold = `${noise.threshold} (a group is released when its noisy ${counted} reaches it${raised})`;
  const mechanism = noise.privacy.mechanism === 'gaussian' ? 'discrete Gaussian noise (zCDP: ρ adds up)' : 'discrete Laplace noise (ε adds up)';
  return { mode: plan.mode, dp: true, epsilon: toText(noise.privacy.epsilon), delta: toText(noise.privacy.delta), noise: mechanism, charges, threshold, errors: outputErrors(plan, noise), warnings: previewWarnings(plan, noise) };
}

function outputErrors(plan: QueryPlan, noise: NoisePlan): { output: string; bound: string }[] {
  return plan.outputs.flatMap((item) => {
    if (item.kind !== 'aggregate') return [];
    const o = outputSlots(plan, item.aggregate);
    if (o.fn === 'count') {
      // The count that decides the release is read given the release: near the threshold its interval reaches lower.
      const selected = o.count === noise.thresholdColumn ? ' (lower for a group released near the threshold)' : '';
      return [{ output: item.name, bound: `± ${errorBound(noise, o.count)} rows${selected}` }];
    }
    if (o.fn === 'sum') return [{ output: item.name, bound: `± ${formatScaled(errorBound(noise, o.sum), o.scale)}` }];
    if ('squares' in o) {
      // Each of the three values behind a variance holds its bound at a third of the miss: all three at once at 95%.
      const third = ERROR_BOUND_MISS / 3;
      const parts = `noisy sum ± ${formatScaled(errorBound(noise, o.sum, third), o.scale)}, sum of squares ± ${formatScaled(errorBound(noise, o.squares, third), 2 * o.scale)} and count ± ${errorBound(noise, o.nonNull, third)}`;
      return [{ output: item.name, bound: `from a ${parts}; the result states each group's interval` }];
    }
    const half = ERROR_BOUND_MISS / 2;
    return [{ output: item.name, bound: `noisy sum ± ${formatScaled(errorBound(noise, o.sum, half), o.scale)} over noisy count ± ${errorBound(noise, o.nonNull, half)}; the result states each group's interval` }];
  });
}
