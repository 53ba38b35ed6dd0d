import { RuleViolation } from '../errors.js';
import type { QueryPlan } from '../query/plan.js';

/**
 * Singleton probing (SPEC §7): a querier that filters its own set down to one key would learn that person's
 * membership from any opened count. Without a policy, every member refuses another member's set smaller than the
 * minimum every released value must rest on (any non-empty result would rest on fewer anyway). A federated holder's
 * part may be small on its own, so federated queries rely on their totals; under a policy the counts are noisy
 * instead (§10). Padding the set with keys known to be absent defeats this check: only a policy bounds that.
 */
export function assertSetSize(plan: QueryPlan, count: number): void {
  // An empty set matches nothing and opens nothing: no probe, and a filter nobody passes still gets its empty answer.
  if (plan.privacy || plan.mode === 'federated' || count === 0 || count >= plan.minDistinctKeys) return;
  throw new RuleViolation(
    'minDistinctKeys',
    `another member's filtered key set holds ${count} key(s), fewer than the ${plan.minDistinctKeys} every released value must rest on`,
    `filters that leave at least ${plan.minDistinctKeys} keys in every member's set, or a privacy policy`,
  );
}
