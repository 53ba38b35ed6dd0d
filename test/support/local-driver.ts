import type { GroupBackend } from '../../src/crypto/group.js';
import type { QuerySecret } from '../../src/crypto/secret.js';
import type { AggregatorSession } from '../../src/session/aggregator.js';
import type { PartnerSession } from '../../src/session/partner.js';
import type { Step } from '../../src/session/step.js';

/**
 * Answers a step's blind requests at once, on this thread, in order, and merges what the answers produce:
 * how scenario tests and the in-process benchmark drive the machines without a worker pool.
 */
export function completeBlinds(machine: AggregatorSession | PartnerSession, step: Step, group: GroupBackend, secret: QuerySecret): Step {
  const send = [...step.send];
  let { aggregate, outcome } = step;
  for (const points of step.blind ?? []) {
    if (outcome) break;
    let next: Step;
    try {
      next = machine.peerBlinded(group.blind(secret, points));
    } catch (err) {
      next = machine.fail(err);
    }
    send.push(...next.send);
    aggregate ??= next.aggregate;
    outcome ??= next.outcome;
  }
  return { send, ...(aggregate ? { aggregate } : {}), ...(outcome ? { outcome } : {}) };
}
