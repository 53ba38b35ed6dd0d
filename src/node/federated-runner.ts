import type { SessionMessage } from '../../protocol/messages.js';
import type { TableStore } from '../data/table-store.js';
import { asCleanroomError } from '../errors.js';
import { STAGE_IDLE_TIMEOUT_MS } from '../limits.js';
import { FederatedSession } from '../protocol/federated.js';
import type { RingStep } from '../protocol/ring.js';
import type { Outcome } from '../protocol/step.js';
import type { QueryPlan } from '../query/plan.js';
import type { PeerConnection } from '../transport/connection.js';

export interface FederatedContext {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly self: string;
  readonly conns: ReadonlyMap<string, PeerConnection>;
  readonly store: TableStore;
}

/** Drives one member's FederatedSession: its own part's aggregates from DuckDB, every peer's messages. */
export async function runFederated(ctx: FederatedContext): Promise<Outcome> {
  const machine = new FederatedSession({ queryId: ctx.queryId, plan: ctx.plan, self: ctx.self });
  let outcome: Outcome | undefined;
  let resolveDone!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolveDone = r));
  let chain = Promise.resolve();
  const settle = (o: Outcome) => {
    if (outcome) return;
    outcome = o;
    resolveDone(o);
  };
  const failLocally = (err: unknown) => {
    if (outcome) return;
    const e = asCleanroomError(err);
    settle({ kind: 'failed', error: e });
    for (const c of ctx.conns.values()) c.send({ type: 'abort', queryId: ctx.queryId, code: e.code, message: e.message.slice(0, 2000) }).catch(() => {});
  };
  const apply = (step: RingStep): void => {
    chain = chain
      .then(async () => {
        for (const e of step.send) await ctx.conns.get(e.to)!.send(e.msg);
        if (step.outcome) settle(step.outcome);
      })
      .catch(failLocally);
  };
  const listen = async (peer: string, conn: PeerConnection) => {
    while (!outcome) {
      let msg: SessionMessage | null;
      try {
        msg = await Promise.race([conn.next(STAGE_IDLE_TIMEOUT_MS), done.then(() => null)]);
      } catch (err) {
        failLocally(err);
        return;
      }
      if (!msg || outcome) return;
      apply(machine.receive(peer, msg));
    }
  };
  for (const [peer, conn] of ctx.conns) void listen(peer, conn);
  if (machine.isHolder) {
    ctx.store
      .aggregateAll(ctx.plan.aggregator, ctx.plan.groupBy, ctx.plan.sumColumns)
      .then((groups) => apply(machine.own(groups)))
      .catch((err) => apply(machine.fail(err)));
  }
  const result = await done;
  await chain;
  return result;
}
