import { RuleViolation } from '../errors.js';
import type { Table } from '../manifest/schema.js';
import { everyTableGoverned } from '../query/noise.js';
import type { QueryPlan } from '../query/plan.js';

/**
 * Singleton probing (SPEC §4.2, §7): a querier that filters its own set down to one key would learn that person's
 * membership from any opened count. A member whose table has no privacy policy therefore refuses another member's
 * set smaller than the minimum every released value must rest on (any non-empty result would rest on fewer anyway).
 * A protection of a table is lifted only by a policy on that table: a policy on the querier's table makes the
 * querier's own answers noisy at the querier's chosen ε, which protects nobody else. A federated holder's part may be
 * small on its own, so federated queries rely on their totals. Padding the set with keys known to be absent defeats
 * this check: only a policy on the table bounds that.
 */
export function assertSetSize(plan: QueryPlan, count: number, own: Table): void {
  // An empty set matches nothing and opens nothing: no probe, and a filter nobody passes still gets its empty answer.
  if (own.rules.privacy || plan.mode === 'federated' || count === 0 || count >= plan.minDistinctKeys) return;
  throw new RuleViolation(
    'minDistinctKeys',
    `another member's filtered key set holds ${count} key(s), fewer than the ${plan.minDistinctKeys} every released value must rest on`,
    `filters that leave at least ${plan.minDistinctKeys} keys in every member's set, or a privacy policy on ${own.name}`,
  );
}

/**
 * The same probe from the other side: the querier narrows this member's table (its filters are the querier's choice)
 * to one key and learns from any opened count whether that person is in its own set. The peer would refuse this set
 * if its table had no policy; one that has a policy does not, so a member whose own table has no policy refuses its
 * own non-empty set under the minimum itself, before any point of it is matched. What the refusal tells the querier
 * (that its filters leave fewer keys than the minimum, not how many) is what the peer's refusal tells it.
 */
export function assertOwnTableSet(plan: QueryPlan, count: number, own: Table): void {
  if (own.rules.privacy || plan.mode === 'federated' || count === 0 || count >= plan.minDistinctKeys) return;
  throw new RuleViolation(
    'minDistinctKeys',
    `${own.name} filtered by this query holds fewer keys than the ${plan.minDistinctKeys} every released value must rest on, and ${own.name} has no privacy policy`,
    `filters that leave at least ${plan.minDistinctKeys} keys in every member's set, or a privacy policy on ${own.name}`,
  );
}

/**
 * A querier whose table has a policy pads its key set (SPEC §10.2), so no peer can count it; when another table of
 * the query has no policy, the querier's own node checks its real set against the minimum before it dials anyone,
 * so that the refusal tells no peer anything.
 */
export function querierChecksOwnSet(plan: QueryPlan, own: Table): boolean {
  return plan.mode !== 'federated' && own.rules.privacy !== undefined && !everyTableGoverned(plan);
}

export function assertOwnSetSize(plan: QueryPlan, count: number, own: Table): void {
  if (count === 0 || count >= plan.minDistinctKeys) return;
  const unguarded = [plan.aggregator, ...plan.others].map((s) => s.table).filter((t) => !t.rules.privacy);
  throw new RuleViolation(
    'minDistinctKeys',
    `${own.name} filtered by this query holds ${count} key(s), fewer than the ${plan.minDistinctKeys} every released value must rest on; ${unguarded.map((t) => t.name).join(', ')} has no privacy policy, so its owner's minimum applies to your set as to any other`,
    `filters that leave at least ${plan.minDistinctKeys} keys in ${own.name}`,
  );
}

/**
 * SPEC §4.6: a querier whose set is cut in parts (the partner of a query grouped by its dimensions) checks each
 * non-empty part against the minimum when another table of the query has no policy. Its peer sees only the parts'
 * total, so the one-key probe of §4.2 (and the query filtered on one label that the peer would refuse) would pass
 * inside one part otherwise. The refusal tells of the querier's own data: its peer gets the code only.
 */
export function assertOwnParts(plan: QueryPlan, counts: readonly number[], own: Table): void {
  if (everyTableGoverned(plan)) return;
  const small = counts.filter((n) => n > 0 && n < plan.minDistinctKeys).length;
  if (small === 0) return;
  throw new RuleViolation(
    'minDistinctKeys',
    `${small} of the ${counts.length} label groups of ${own.name}'s set hold fewer keys than the ${plan.minDistinctKeys} every released value must rest on, and another table of the query has no privacy policy`,
    `filters or GROUP BY labels that leave at least ${plan.minDistinctKeys} keys of ${own.name} in every non-empty group`,
    { dataDependent: true },
  );
}
