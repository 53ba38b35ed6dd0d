import { hashToGroupDst } from '../crypto/group.js';
import type { CryptoPool } from '../crypto/pool.js';
import { QuerySecret } from '../crypto/secret.js';
import type { KeyHasher } from '../data/hash-cache.js';
import type { TableStore } from '../data/table-store.js';
import { PSI_BATCH_KEYS } from '../limits.js';
import type { MultiStep } from '../session/multi-step.js';
import { RingSession } from '../session/ring.js';
import type { Outcome } from '../session/step.js';
import type { QueryPlan } from '../query/plan.js';
import type { PeerConnection } from '../transport/connection.js';
import { SessionControl } from './session-control.js';
import type { Progress } from './session-runner.js';

export interface RingContext {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly collaborationId: string;
  readonly self: string;
  /** One authenticated connection to every other member of the query. */
  readonly conns: ReadonlyMap<string, PeerConnection>;
  readonly pool: CryptoPool;
  readonly store: TableStore;
  readonly onProgress?: (p: Progress) => void;
  /** The session's silence limit (SessionControl). */
  readonly idleTimeoutMs?: number;
}

/** Multiplications queued ahead of the machine: enough to keep every worker busy, few enough to bound memory. */
const BLINDS_AHEAD_PER_THREAD = 4;

/**
 * Drives one member's RingSession: its own H(k) from DuckDB, every peer's messages off its connection, the
 * multiplications on the worker pool. Blind results go back to the machine strictly in request order (the
 * machine keeps one queue of what each result is for); messages leave in the order the machine produced them.
 */
export async function runRing(ctx: RingContext): Promise<Outcome> {
  const { plan, self, store, pool } = ctx;
  const isAggregator = plan.aggregator.table.owner === self;
  const side = [plan.aggregator, ...plan.others].find((s) => s.table.owner === self)!;
  const secret = QuerySecret.generate();
  const extra = isAggregator ? QuerySecret.generate() : undefined;
  const machine = new RingSession({ queryId: ctx.queryId, plan, self, secret, ...(extra ? { extra } : {}) });
  const blinds: Promise<Uint8Array>[] = [];
  let wake: (() => void) | undefined;
  let sendChain = Promise.resolve();
  const control = new SessionControl(ctx.queryId, ctx.conns, () => {
    secret.zero();
    extra?.zero();
    wake?.();
  }, ctx.idleTimeoutMs);
  const failLocally = (err: unknown) => control.fail(err);
  const apply = (step: MultiStep): void => {
    control.touch();
    for (const req of step.blind ?? []) {
      let p: Promise<Uint8Array>;
      try {
        p = pool.blind(req.secret, req.points);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.catch(() => {});
      blinds.push(p);
    }
    wake?.();
    const sends = step.send;
    sendChain = sendChain
      .then(async () => {
        for (const e of sends) await ctx.conns.get(e.to)!.send(e.msg);
      })
      .catch(failLocally);
    if (step.aggregate) {
      const matched = step.aggregate;
      sendChain = sendChain
        .then(async () => {
          ctx.onProgress?.({ queryId: ctx.queryId, stage: 'aggregation', ownKeys: matched.length });
          apply(machine.aggregates(await store.aggregateMatched(side, plan.groupBy, plan.sumColumns, matched)));
        })
        .catch(failLocally);
    }
    if (step.outcome) {
      const o = step.outcome;
      sendChain = sendChain.then(() => control.settle(o)).catch(failLocally);
    }
  };

  /** Resolves once every queued multiplication and message has been handled. */
  const idle = async () => {
    for (;;) {
      const c = sendChain;
      await c;
      if (control.outcome || (blinds.length === 0 && c === sendChain)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  const consumeBlinds = async () => {
    while (!control.outcome) {
      const next = blinds.shift();
      if (!next) {
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
        continue;
      }
      let result: Uint8Array;
      try {
        result = await next;
      } catch (err) {
        apply(machine.fail(err));
        continue;
      }
      if (!control.outcome) apply(machine.blinded(result));
    }
  };

  const hasher: KeyHasher = { dst: hashToGroupDst(ctx.collaborationId), parallelism: pool.threads, hash: (keys) => pool.hashToGroup(keys, hasher.dst) };
  const produce = async () => {
    let count = 0;
    for await (const hashed of store.hashedKeys(side, hasher, PSI_BATCH_KEYS)) {
      if (control.outcome) return;
      apply(machine.ownHashed(hashed));
      count += hashed.length / 32;
      ctx.onProgress?.({ queryId: ctx.queryId, stage: 'psi', ownKeys: count });
      while (!control.outcome && blinds.length > pool.threads * BLINDS_AHEAD_PER_THREAD) await new Promise((r) => setTimeout(r, 5));
    }
    if (!control.outcome) apply(machine.ownEnd());
  };

  void consumeBlinds();
  produce().catch(failLocally);
  control.listen(() => true, (peer, msg) => apply(machine.receive(peer, msg)), idle);
  const result = await control.done;
  // After a failure a frozen peer could hold pending sends forever; the connections are torn down instead.
  if (result.kind !== 'failed') await sendChain;
  return result;
}
