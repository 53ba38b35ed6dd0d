import { hashToGroupDst } from '../crypto/group.js';
import type { CryptoPool } from '../crypto/pool.js';
import type { KeyHasher } from '../data/hash-cache.js';
import { columnsRead, type HashedBatch, type TableStore } from '../data/table-store.js';
import { CleanroomError, peerText } from '../errors.js';
import { PSI_BATCH_KEYS } from '../limits.js';
import { ownDimensions, type QueryPlan } from '../query/plan.js';
import type { BlindRequest, Machine, Outcome, Step } from '../session/step.js';
import type { ReblindCheck } from '../crypto/verified-reblind.js';
import type { PeerConnection } from '../transport/connection.js';
import { ProgressTracker, type OwnStep, type ProgressView } from './progress.js';
import { SessionControl } from './session-control.js';

export interface Progress {
  readonly queryId: string;
  readonly stage: 'queued' | 'proposing' | 'psi' | 'aggregation';
  readonly ownKeys: number;
  /** While queued: how many of this node's queries run or wait ahead of this one. */
  readonly ahead?: number;
  /** While it runs: this node's step, the peers' as far as it can tell, the time taken and left (progress.ts). */
  readonly view?: ProgressView;
}

/** The coarse stage of a step, as clients that only show stages read it. */
export function stageOf(step: OwnStep): Progress['stage'] {
  if (step === 'proposing') return 'proposing';
  return step === 'aggregating' || step === 'releasing' ? 'aggregation' : 'psi';
}

export interface DriverContext {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly collaborationId: string;
  /** One authenticated connection to every other member of the query. */
  readonly conns: ReadonlyMap<string, PeerConnection>;
  readonly pool: CryptoPool;
  readonly store: TableStore;
  readonly onProgress?: (p: Progress) => void;
  /** The session's silence limit (SessionControl). */
  readonly idleTimeoutMs?: number;
  /** This member's id: a ring names the sets by their owners. */
  readonly self?: string;
  /** Aborted when this member's user cancels the query: the session fails with its reason and every peer is told. */
  readonly signal?: AbortSignal;
}

/**
 * Multiplications started ahead of the machine before the key stream waits: enough to keep every worker busy,
 * few enough to bound what waits in memory to a few hundred KiB per worker.
 */
const BLINDS_AHEAD_PER_THREAD = 4;

/**
 * Drives any query machine: streams this node's H(k) out of DuckDB (through the hash cache) when the machine takes
 * its keys, hands it every peer's messages off their connections, runs its multiplications on the worker pool and
 * gives the results back strictly in request order, sends what it returns in the order it returned it, and
 * answers its `aggregate` requests from the TableStore. The protocol decisions are all the machine's; this loop
 * moves bytes and awaits I/O, and reading, crypto and network overlap. It waits on events only: a step applied,
 * a result consumed, the session settled.
 */
export async function drive(machine: Machine, ctx: DriverContext): Promise<Outcome> {
  const { queryId, plan, conns, pool, store } = ctx;
  /** Started multiplications not yet handed back, in request order. */
  const blinds: Promise<Uint8Array>[] = [];
  /** For progress, beside each of `blinds`: whether it raises this node's own keys, and how many points. */
  const kinds: { own: boolean; points: number }[] = [];
  let ownKeys = 0;
  const tracker = ctx.onProgress && new ProgressTracker(ctx.self ?? '', machine.peers, (view) => ctx.onProgress!({ queryId, stage: stageOf(view.step), ownKeys, view }));
  let consuming = false;
  /** Sends, aggregations and the outcome, in the order the machine produced them. */
  let chain = Promise.resolve();
  const waiting = new Set<() => void>();
  const changed = (): void => {
    for (const wake of waiting) wake();
    waiting.clear();
  };
  const nextChange = (): Promise<void> => new Promise((wake) => waiting.add(wake));
  const control = new SessionControl(queryId, conns, () => {
    machine.end();
    changed();
  }, ctx.idleTimeoutMs);
  const fail = (err: unknown): void => control.fail(err);
  const cancel = (): void => fail(ctx.signal?.reason);
  if (ctx.signal?.aborted) cancel();
  ctx.signal?.addEventListener('abort', cancel, { once: true });

  /** Starts a multiplication now, so the pool works ahead; its result is consumed later, in order. */
  const multiply = (req: BlindRequest | ReblindCheck): Promise<Uint8Array> => {
    let p: Promise<Uint8Array>;
    try {
      if ('returned' in req) p = pool.check(req);
      else p = req.prove ? pool.prove(req.secret, req.points, req.prove) : pool.blind(req.secret, req.points, req.padding);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch(() => {});
    return p;
  };
  const aggregateOwn = (request: readonly number[] | 'all', parts: readonly number[] | undefined) => {
    const cap = plan.privacy?.maxRowsPerKey;
    const own = ownDimensions(plan);
    if (request === 'all') return store.aggregateAll(machine.side, own, plan, cap);
    tracker?.aggregating();
    const partner = plan.mode === 'aggregate' ? plan.partnerGroups : undefined;
    return store.aggregateMatched(machine.side, own, plan, parts && partner ? { indices: request, parts } : request, cap, partner);
  };
  const apply = (step: Step, own = false): void => {
    control.touch();
    // A step's checks queue behind its multiplications: the machine reads the answers in that order.
    const work = [...(step.blind ?? []), ...(step.check ?? [])];
    for (const req of work) {
      const points = ('returned' in req ? req.returned : req.points).length / pool.pointBytes;
      kinds.push({ own, points });
      tracker?.blindStarted(own, points);
    }
    blinds.push(...work.map(multiply));
    changed();
    const { send, aggregate, outcome } = step;
    chain = chain
      .then(async () => {
        // After a failure nothing more leaves: the aborts are out.
        if (control.outcome) return;
        for (const e of send) {
          await conns.get(e.to)!.send(e.msg);
          tracker?.sentTo(e.to, e.msg);
        }
        if (aggregate) apply(machine.aggregates(await control.working(() => aggregateOwn(aggregate, step.parts))));
        if (outcome) control.settle(outcome);
      })
      .catch(fail);
  };

  const consume = async (): Promise<void> => {
    while (!control.outcome) {
      const next = blinds.shift();
      const kind = kinds.shift();
      if (!next) {
        await nextChange();
        continue;
      }
      consuming = true;
      let step: Step;
      try {
        step = machine.blinded(await next);
        control.progressed();
        if (kind) tracker?.blindDone(kind.own, kind.points);
      } catch (err) {
        step = machine.fail(err);
      }
      consuming = false;
      if (control.outcome) changed();
      // What a result leads to (a second secret on the same points, a ring's next hop) is of the same origin.
      else apply(step, kind?.own);
    }
  };

  // Hashing a table's new keys into the cache comes before its first batch and can take minutes for a large table:
  // each hashed batch is local progress, so the session's silence limit does not cut it off.
  const hasher: KeyHasher = {
    dst: hashToGroupDst(ctx.collaborationId),
    parallelism: pool.threads,
    // A query that ended (cancelled, failed) hashes no more: a cache build of minutes stops at its next batch.
    hash: (keys) =>
      control.outcome
        ? Promise.reject(new CleanroomError('ABORTED', `query ${queryId} ended while its keys were being hashed`))
        : pool.hashToGroup(keys, hasher.dst).then((h) => {
            control.progressed();
            tracker?.hashing(keys.length);
            return h;
          }),
  };
  /** This member's keys: of the whole filtered set, or (SPEC §4.6) the partner's parts, one by one. */
  const parts = plan.mode === 'aggregate' && machine.side !== plan.aggregator ? plan.partnerGroups : undefined;
  const keyStream = (): AsyncGenerator<HashedBatch> => {
    const keyParts = parts && { dimensions: parts.positions.map((i) => plan.groupBy[i]!), labels: parts.labels, ...(plan.privacy ? { perKey: parts.perKey } : {}) };
    return store.hashedPartKeys(machine.side, keyParts, hasher, PSI_BATCH_KEYS, columnsRead(plan, machine.side));
  };
  /**
   * Resolves once few enough multiplications wait: the own key stream and every peer's stream alike take their next
   * batch only then, so what waits in memory is a few batches per worker, not a whole set.
   */
  const backlog = async (): Promise<void> => {
    while (!control.outcome && blinds.length > pool.threads * BLINDS_AHEAD_PER_THREAD) await nextChange();
  };
  const produce = async (): Promise<void> => {
    // Counted before the first batch (the key stream reuses the count's key set): a partner's set streams arranged
    // by it (SPEC §4.2 step 1), and it is the progress total but with parts, which repeat keys.
    const keys = await store.distinctKeys(machine.side, columnsRead(plan, machine.side));
    if (control.outcome) return;
    if (tracker && !parts) tracker.ownKeys(keys);
    apply(machine.ownKeyCount(keys), true);
    for await (const { part, points } of keyStream()) {
      if (control.outcome) return;
      apply(machine.ownHashed(points, part), true);
      ownKeys += points.length / pool.pointBytes;
      await backlog();
    }
    tracker?.ownStreamEnded();
    if (!control.outcome) apply(machine.ownEnd(), true);
  };

  /** Resolves once every queued multiplication and message has been handled. */
  const idle = async (): Promise<void> => {
    for (;;) {
      const c = chain;
      await c;
      if (control.outcome) return;
      if (c !== chain) continue;
      if (blinds.length === 0 && !consuming) return;
      await nextChange();
    }
  };

  void consume();
  // Its own key stream does not wait for any peer: the first batch waits for DuckDB's sort of the whole key set.
  if (machine.keyed) control.working(produce).catch(fail);
  control.listen((peer, msg) => {
    tracker?.received(peer, msg);
    // A member's user cancelled: the query fails with that code here too, and this node tells the members it reaches.
    if (msg.type === 'abort' && msg.code === 'CANCELLED') return fail(new CleanroomError('CANCELLED', `${peer} cancelled the query: ${peerText(msg.message)}`));
    apply(machine.receive(peer, msg));
    return backlog();
  }, idle);
  apply(machine.start());
  try {
    const result = await control.done;
    // After a failure a frozen peer could hold pending sends forever; the connections are torn down instead.
    if (result.kind !== 'failed') await chain;
    return result;
  } finally {
    tracker?.end();
    ctx.signal?.removeEventListener('abort', cancel);
    await store.release(machine.side);
  }
}

