import type { RandomSource } from '../../src/dp/random-source.js';
import type { QueryPlan } from '../../src/query/plan.js';
import type { GroupAggregate, QueryResult } from '../../src/query/result.js';
import { Release, type ReleaseMessage } from '../../src/session/release.js';
import type { Outcome, Step } from '../../src/session/step.js';

/**
 * One two-party release stage in this process, without its PSI: `dealer` deals `groups`, both members hold shares
 * and add their noise (each from its own random source), both receive; returns what `other` receives.
 */
export function pairRelease(
  plan: QueryPlan,
  members: { readonly dealer: string; readonly other: string },
  groups: readonly GroupAggregate[],
  random: { readonly dealer: RandomSource; readonly other: RandomSource },
): QueryResult {
  const { dealer, other } = members;
  const domain = plan.mode === 'aggregate' ? plan.domain : undefined;
  const base = { queryId: 'cd'.repeat(16), plan, holders: [dealer, other], dealers: [dealer], receivers: [dealer, other], labelsFrom: dealer, labelsTo: [other], verifyCounts: true, ...(domain ? { padTo: domain } : {}) };
  const machines: Record<string, Release> = {
    [dealer]: new Release({ ...base, self: dealer, random: random.dealer }),
    [other]: new Release({ ...base, self: other, random: random.other }),
  };
  const queue: { from: string; to: string; msg: ReleaseMessage }[] = [];
  const outcomes: Record<string, Outcome> = {};
  const take = (from: string, step: Step) => {
    for (const e of step.send) queue.push({ from, to: e.to, msg: e.msg as ReleaseMessage });
    if (step.outcome) outcomes[from] = step.outcome;
  };
  for (const r of Object.values(machines)) r.start();
  take(dealer, machines[dealer]!.deal(groups));
  while (queue.length > 0) {
    const w = queue.shift()!;
    take(w.to, machines[w.to]!.receive(w.from, w.msg));
  }
  const o = outcomes[other];
  if (o?.kind !== 'result') throw new Error(`${other} got ${JSON.stringify(o)}`);
  return o.result;
}
