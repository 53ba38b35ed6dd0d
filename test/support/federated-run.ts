/**
 * A federated query run to its end in one process: every member's FederatedSession, messages through the wire codec,
 * each holder's aggregates from `aggregate` over the indices of its matched keys (the machine runs the PSI with the
 * joined member, SPEC §4.5).
 */
import { selectBackend } from '../../src/crypto/backend.js';
import { hashToGroupDst } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import type { FederatedPlan } from '../../src/query/plan.js';
import type { GroupAggregate } from '../../src/query/result.js';
import { FederatedSession } from '../../src/session/federated.js';
import type { Outcome, Step } from '../../src/session/step.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { SessionMessage } from '../../src/wire/messages.js';
import { completeBlinds } from './local-driver.js';

export interface FederatedRun {
  readonly outcomes: Record<string, Outcome>;
  readonly machines: Record<string, FederatedSession>;
}

export interface FederatedRunOptions {
  readonly plan: FederatedPlan;
  readonly queryId: string;
  /** Each member's keys, in its table's order (the indices `aggregate` gets refer to it). */
  readonly keys: Readonly<Record<string, readonly string[]>>;
  /** A holder's group vectors over the rows at `matched`. */
  readonly aggregate: (holder: string, matched: readonly number[]) => GroupAggregate[];
  /** May replace a message in flight. */
  readonly tamper?: (from: string, to: string, msg: SessionMessage) => SessionMessage;
}

/** Bounds a run whose machines keep talking, which would otherwise never end. */
const MAX_DELIVERIES = 10_000;

export function runFederated(o: FederatedRunOptions): FederatedRun {
  // libsodium where it loads (its bytes are noble's, test/unit/group-cross-backend.test.ts): the padding of a DP run
  // costs hundreds of multiplications per set.
  const group = selectBackend('auto');
  const dst = hashToGroupDst('fed');
  const members = Object.keys(o.keys);
  const machines: Record<string, FederatedSession> = {};
  for (const self of members) machines[self] = new FederatedSession({ queryId: o.queryId, plan: o.plan, self, group, newSecret: () => QuerySecret.generate() });
  const outcomes: Record<string, Outcome> = {};
  const inbox: { from: string; to: string; bytes: Uint8Array }[] = [];
  const apply = (id: string, raw: Step): void => {
    const step = completeBlinds(machines[id]!, raw, group);
    for (const e of step.send) inbox.push({ from: id, to: e.to, bytes: encodeFrame(o.tamper ? o.tamper(id, e.to, e.msg) : e.msg) });
    if (step.aggregate) {
      if (step.aggregate === 'all') throw new Error('a joined holder aggregates its matched rows only');
      apply(id, machines[id]!.aggregates(o.aggregate(id, step.aggregate)));
    }
    if (step.outcome) outcomes[id] ??= step.outcome;
  };
  for (const id of members) {
    apply(id, machines[id]!.start());
    if (!machines[id]!.keyed) continue;
    apply(id, machines[id]!.ownKeyCount(o.keys[id]!.length));
    apply(id, machines[id]!.ownHashed(group.hashToGroup(o.keys[id]!.map((k) => new TextEncoder().encode(k)), dst)));
    apply(id, machines[id]!.ownEnd());
  }
  for (let n = 0; inbox.length > 0 && n < MAX_DELIVERIES; n++) {
    const { from, to, bytes } = inbox.shift()!;
    if (outcomes[to]) continue;
    apply(to, machines[to]!.receive(from, decodeFrame(bytes, SessionMessage, 'session')));
  }
  return { outcomes, machines };
}
