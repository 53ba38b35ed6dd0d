import type { SessionMessage } from '../../protocol/messages.js';
import { hashToGroupDst, type GroupBackend } from '../crypto/group.js';
import { QuerySecret } from '../crypto/secret.js';
import type { TableStore } from '../data/table-store.js';
import { asCleanroomError } from '../errors.js';
import { PSI_BATCH_KEYS, STAGE_IDLE_TIMEOUT_MS } from '../limits.js';
import { AggregatorSession } from '../protocol/aggregator.js';
import { PartnerSession } from '../protocol/partner.js';
import type { Outcome, Step } from '../protocol/step.js';
import type { QueryPlan } from '../query/plan.js';
import type { PeerConnection } from '../transport/connection.js';

export interface Progress {
  readonly queryId: string;
  readonly stage: 'psi' | 'aggregation';
  readonly ownKeys: number;
}

export interface SessionContext {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly collaborationId: string;
  readonly self: string;
  readonly conn: PeerConnection;
  readonly group: GroupBackend;
  readonly store: TableStore;
  readonly onProgress?: (p: Progress) => void;
}

/**
 * Drives one query's state machine: feeds it this node's keys from DuckDB and the peer's messages from the
 * socket, sends what it returns in order, and answers its request for local aggregates. All protocol decisions
 * are the machine's; this loop only moves bytes and awaits I/O.
 */
export async function runSession(ctx: SessionContext): Promise<Outcome> {
  const { plan, self, store, group } = ctx;
  const isAggregator = plan.aggregator.table.owner === self;
  const side = isAggregator ? plan.aggregator : plan.partner;
  const params = { queryId: ctx.queryId, plan, self, peer: ctx.conn.peer, group, secret: QuerySecret.generate() };
  const machine = isAggregator ? new AggregatorSession(params) : new PartnerSession(params);
  const dst = hashToGroupDst(ctx.collaborationId);
  // The aggregator maps matched indices back to its keys; count-only needs no key kept at all.
  const ownKeys: string[] = [];
  const keepKeys = isAggregator && plan.mode === 'aggregate';
  let outcome: Outcome | undefined;
  let resolveDone!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolveDone = r));
  let chain = Promise.resolve();

  const settle = (o: Outcome) => {
    if (outcome) return;
    outcome = o;
    params.secret.zero();
    resolveDone(o);
  };
  const failLocally = (err: unknown) => {
    const error = asCleanroomError(err);
    if (!outcome) ctx.conn.send({ type: 'abort', queryId: ctx.queryId, code: error.code, message: error.message.slice(0, 2000) }).catch(() => {});
    settle({ kind: 'failed', error });
  };
  // Steps are applied strictly in the order the machine produced them, so frames leave in protocol order.
  const apply = (step: Step): Promise<void> => {
    chain = chain.then(async () => {
      if (outcome) return;
      for (const m of step.send) await ctx.conn.send(m);
      if (step.aggregate && machine instanceof AggregatorSession) {
        ctx.onProgress?.({ queryId: ctx.queryId, stage: 'aggregation', ownKeys: ownKeys.length });
        const groups = await store.aggregateMatched(side, plan.groupBy, plan.sumColumns, step.aggregate.map((i) => ownKeys[i]!));
        ownKeys.length = 0;
        const next = machine.aggregates(groups);
        for (const m of next.send) await ctx.conn.send(m);
        if (next.outcome) settle(next.outcome);
      }
      if (step.outcome) settle(step.outcome);
    }).catch(failLocally);
    return chain;
  };

  const produce = async () => {
    const enc = new TextEncoder();
    let count = 0;
    for await (const keys of store.distinctKeys(side, PSI_BATCH_KEYS)) {
      if (outcome) return;
      if (keepKeys) for (const k of keys) ownKeys.push(k);
      count += keys.length;
      await apply(machine.ownPoints(group.hashToGroup(keys.map((k) => enc.encode(k)), dst)));
      ctx.onProgress?.({ queryId: ctx.queryId, stage: 'psi', ownKeys: count });
    }
    if (!outcome) await apply(machine.ownEnd());
  };

  const consume = async () => {
    while (!outcome) {
      let msg: SessionMessage;
      try {
        msg = await Promise.race([ctx.conn.next(STAGE_IDLE_TIMEOUT_MS), done.then(() => null)]) as SessionMessage;
      } catch (err) {
        failLocally(err);
        return;
      }
      if (!msg || outcome) return;
      void apply(machine.receive(msg));
    }
  };

  produce().catch(failLocally);
  void consume();
  const result = await done;
  await chain;
  return result;
}
