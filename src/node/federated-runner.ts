import { type GroupAggregate } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import type { TableStore } from '../data/table-store.js';
import { CleanroomError } from '../errors.js';
import { FederatedSession } from '../session/federated.js';
import type { MultiStep } from '../session/multi-step.js';
import type { Outcome } from '../session/step.js';
import { federatedPhaseMembers, type FederatedPlan } from '../query/plan.js';
import type { PeerConnection } from '../transport/connection.js';
import { SessionControl } from './session-control.js';
import { runSession, type SessionContext } from './session-runner.js';

export interface FederatedContext {
  readonly queryId: string;
  readonly plan: FederatedPlan;
  readonly self: string;
  readonly conns: ReadonlyMap<string, PeerConnection>;
  readonly store: TableStore;
  /** The session's silence limit (SessionControl). */
  readonly idleTimeoutMs?: number;
  /** This holder's own part, when not every filtered row counts (a federated table joined with another table). */
  readonly ownGroups?: () => Promise<GroupAggregate[]>;
}

/** What the federated phase takes off a connection it may share with a PSI phase. */
const FEDERATED_MESSAGES = new Set(['shares', 'open', 'labels', 'abort']);

/** Drives one member's FederatedSession: its own part's aggregates from DuckDB, every peer's messages. */
export async function runFederated(ctx: FederatedContext): Promise<Outcome> {
  const machine = new FederatedSession({ queryId: ctx.queryId, plan: ctx.plan, self: ctx.self });
  const control = new SessionControl(ctx.queryId, ctx.conns, undefined, ctx.idleTimeoutMs);
  let chain = Promise.resolve();
  const apply = (step: MultiStep): void => {
    control.touch();
    chain = chain
      .then(async () => {
        for (const e of step.send) await ctx.conns.get(e.to)!.send(e.msg);
        if (step.outcome) control.settle(step.outcome);
      })
      .catch((err) => control.fail(err));
  };
  control.listen((m) => FEDERATED_MESSAGES.has(m.type), (peer, msg) => apply(machine.receive(peer, msg)), () => chain);
  if (machine.isHolder) {
    (ctx.ownGroups ?? (() => ctx.store.aggregateAll(ctx.plan.aggregator, ctx.plan.groupBy, ctx.plan.sumColumns)))()
      .then((groups) => apply(machine.own(groups)))
      .catch((err) => apply(machine.fail(err)));
  }
  const result = await control.done;
  // After a failure a frozen peer could hold pending sends forever; the connections are torn down instead.
  if (result.kind !== 'failed') await chain;
  return result;
}

/**
 * A federated table joined with another member's table (SPEC §4.5): each holder first runs a two-party PSI with
 * that member on their shared connection (the holder as P, learning which of its keys are in the other table),
 * then the holders aggregate their matched rows and add them up as on their own. The other member takes part in
 * the second phase only if it receives the result.
 */
export async function runFederatedJoin(ctx: FederatedContext & Omit<SessionContext, 'conn' | 'side' | 'accept'>): Promise<Outcome> {
  const { plan, self } = ctx;
  const { holders } = plan;
  const joined = plan.others[0]!;
  const psiOnly = (m: SessionMessage) => m.type === 'points' || m.type === 'points-end' || m.type === 'abort';
  const federatedMembers = federatedPhaseMembers(plan);
  const conns = new Map([...ctx.conns].filter(([peer]) => federatedMembers.includes(peer)));
  if (holders.includes(self)) {
    const psi = await runSession({ ...ctx, conn: ctx.conns.get(joined.table.owner)!, side: { role: 'aggregator', side: plan.aggregator }, accept: psiOnly });
    if (psi.kind !== 'matched') return psi.kind === 'failed' ? psi : { kind: 'failed', error: new CleanroomError('INTERNAL', `PSI ended with ${psi.kind}`) };
    return runFederated({ ...ctx, conns, ownGroups: () => ctx.store.aggregateMatched(plan.aggregator, plan.groupBy, plan.sumColumns, psi.matched) });
  }
  if (self === joined.table.owner) {
    const runs = await Promise.all(holders.map((h) => runSession({ ...ctx, conn: ctx.conns.get(h)!, side: { role: 'partner', side: joined }, accept: psiOnly })));
    const failed = runs.find((r) => r.kind === 'failed');
    if (failed) return failed;
    // Not a receiver: its part ends with the PSIs, and it never learns how many groups were released.
    if (!plan.receivers.includes(self)) return { kind: 'released', groups: 0, receivers: plan.receivers };
  }
  return runFederated({ ...ctx, conns });
}
