import type { SessionMessage } from '../wire/messages.js';
import { hashToGroupDst } from '../crypto/group.js';
import type { CryptoPool } from '../crypto/pool.js';
import { QuerySecret } from '../crypto/secret.js';
import type { KeyHasher } from '../data/hash-cache.js';
import type { TableStore } from '../data/table-store.js';
import { PSI_BATCH_KEYS } from '../limits.js';
import { AggregatorSession } from '../session/aggregator.js';
import { PartnerSession } from '../session/partner.js';
import type { Outcome, Step } from '../session/step.js';
import type { QueryPlan, TableSide } from '../query/plan.js';
import type { PeerConnection } from '../transport/connection.js';
import { SessionControl } from './session-control.js';

export interface Progress {
  readonly queryId: string;
  readonly stage: 'queued' | 'psi' | 'aggregation';
  readonly ownKeys: number;
  /** While queued: how many of this node's queries run or wait ahead of this one. */
  readonly ahead?: number;
}

export interface SessionContext {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly collaborationId: string;
  readonly self: string;
  readonly conn: PeerConnection;
  readonly pool: CryptoPool;
  readonly store: TableStore;
  readonly onProgress?: (p: Progress) => void;
  /** The session's silence limit (SessionControl). */
  readonly idleTimeoutMs?: number;
  /** The role and table on this connection, when it is not the plan's own (a holder of a federated table is P). */
  readonly side?: { readonly role: 'aggregator' | 'partner'; readonly side: TableSide };
  /** The messages this session takes off the connection; the rest stay for the phase that follows. */
  readonly accept?: (m: SessionMessage) => boolean;
}

/**
 * Own batches blinded ahead of the socket: two per worker keeps every core busy while bounding what waits in
 * memory to a few hundred KiB.
 */
const OWN_BATCHES_IN_FLIGHT_PER_THREAD = 2;

/**
 * Drives one query's state machine: streams this node's H(k) out of DuckDB (through the hash cache) and the
 * peer's batches off the socket into the worker pool, feeds the results to the machine in order, sends what it
 * returns in order, and answers its request for local aggregates. The protocol decisions are all the machine's;
 * this loop moves bytes and awaits I/O, and reading, crypto and network overlap.
 */
export async function runSession(ctx: SessionContext): Promise<Outcome> {
  const { plan, self, store, pool } = ctx;
  const isAggregator = ctx.side ? ctx.side.role === 'aggregator' : plan.aggregator.table.owner === self;
  const side = ctx.side?.side ?? (isAggregator ? plan.aggregator : plan.others[0]!);
  const secret = QuerySecret.generate();
  const params = { queryId: ctx.queryId, plan, self, peer: ctx.conn.peer, secret };
  const machine = isAggregator ? new AggregatorSession(params) : new PartnerSession(params);
  // Everything the machine returns is handled strictly in the order it was returned.
  let chain = Promise.resolve();
  const control = new SessionControl(ctx.queryId, new Map([[ctx.conn.peer, ctx.conn]]), () => secret.zero(), ctx.idleTimeoutMs);
  const settle = (o: Outcome) => control.settle(o);
  const failLocally = (err: unknown) => control.fail(err);
  /** Starts a multiplication now (so the pool works ahead); its result is consumed later, in order. */
  const blind = (points: Uint8Array): Promise<Uint8Array> => {
    let p: Promise<Uint8Array>;
    try {
      p = pool.blind(secret, points);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch(() => {});
    return p;
  };
  const handle = async (step: Step, blinded: readonly Promise<Uint8Array>[]): Promise<void> => {
    if (control.outcome) return;
    for (const m of step.send) await ctx.conn.send(m);
    for (const b of blinded) {
      let next: Step;
      try {
        next = machine.peerBlinded(await b);
      } catch (err) {
        next = machine.fail(err);
      }
      await handle(next, []);
      if (control.outcome) return;
    }
    if (step.aggregate && machine instanceof AggregatorSession) {
      ctx.onProgress?.({ queryId: ctx.queryId, stage: 'aggregation', ownKeys: step.aggregate.length });
      await handle(machine.aggregates(await store.aggregateMatched(side, plan.groupBy, plan.sumColumns, step.aggregate)), []);
    }
    if (step.outcome) settle(step.outcome);
  };
  const apply = (step: Step): Promise<void> => {
    control.touch();
    const blinded = (step.blind ?? []).map(blind);
    chain = chain.then(() => handle(step, blinded)).catch(failLocally);
    return chain;
  };

  const hasher: KeyHasher = {
    dst: hashToGroupDst(ctx.collaborationId),
    parallelism: pool.threads,
    hash: (keys) => pool.hashToGroup(keys, hasher.dst),
  };
  const produce = async () => {
    const inflight: Promise<void>[] = [];
    let count = 0;
    for await (const hashed of store.hashedKeys(side, hasher, PSI_BATCH_KEYS)) {
      if (control.outcome) return;
      const blinded = blind(hashed);
      count += hashed.length / 32;
      const n = count;
      chain = chain
        .then(async () => {
          const points = await blinded;
          if (control.outcome) return;
          await handle(machine.ownPoints(points), []);
          ctx.onProgress?.({ queryId: ctx.queryId, stage: 'psi', ownKeys: n });
        })
        .catch(failLocally);
      inflight.push(chain);
      if (inflight.length >= pool.threads * OWN_BATCHES_IN_FLIGHT_PER_THREAD) await inflight.shift();
    }
    // Queued behind the last own batch, so the machine sees the end after every batch.
    chain = chain.then(() => handle(machine.ownEnd(), [])).catch(failLocally);
    await chain;
  };

  produce().catch(failLocally);
  control.listen(ctx.accept ?? (() => true), (_peer, msg) => void apply(machine.receive(msg)), () => chain);
  const result = await control.done;
  // After a failure a frozen peer could hold pending sends forever; the connections are torn down instead.
  if (result.kind !== 'failed') await chain;
  return result;
}
