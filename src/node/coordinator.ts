import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { AuditLog, type AuditInput } from '../audit/audit-log.js';
import type { BudgetLedger } from '../budget/ledger.js';
import { amountText } from '../dp/accounting.js';
import type { LoadedConfig } from '../config/node-config.js';
import { selectBackend } from '../crypto/backend.js';
import type { CryptoPool } from '../crypto/pool.js';
import { QuerySecret } from '../crypto/secret.js';
import { DataInvalid } from '../data/data-problem.js';
import { columnsRead, type TableStore } from '../data/table-store.js';
import { CleanroomError, ProtocolViolation, RuleViolation, asCleanroomError, errorMessage, forPeer } from '../errors.js';
import { failpoint } from '../failpoint.js';
import { MAX_CONCURRENT_PEER_QUERIES, MAX_CONCURRENT_QUERIES, MAX_CONCURRENT_QUERIES_PER_PEER, PROPOSAL_TIMEOUT_MS } from '../limits.js';
import { holdersOf, type Manifest } from '../manifest/schema.js';
import { parseQuery } from '../query/parse.js';
import { assertAddedPointsFit, noisePlan, noiseAdders } from '../query/noise.js';
import { planQuery, type QueryPlan } from '../query/plan.js';
import { countsText } from '../query/counts-text.js';
import type { BudgetCharge } from '../query/privacy-plan.js';
import type { QueryOutcome } from '../query/result.js';
import { AggregatorSession } from '../session/aggregator.js';
import { FederatedSession } from '../session/federated.js';
import { PartnerSession } from '../session/partner.js';
import { ProposalAnswer, ProposalOffer } from '../session/proposal.js';
import { assertOwnSetSize, querierChecksOwnSet } from '../session/probe-guard.js';
import { RingSession } from '../session/ring.js';
import type { Machine, Outcome } from '../session/step.js';
import { PeerConnection, type ConnectionParams } from '../transport/connection.js';
import { NO_QUERY_ID } from '../wire/messages.js';
import { Cancellations, untilCancelled } from './cancel.js';
import { drive, type Progress } from './driver.js';
import { IdleConnections } from './idle-connections.js';
import { JoinRegistry } from './join-registry.js';
import { QueryDrain } from './drain.js';
import { PeerQueryGates, QueryGate } from './query-gate.js';


export interface CoordinatorDeps {
  readonly cfg: LoadedConfig;
  readonly memberId: string;
  readonly manifest: Manifest;
  readonly pool: CryptoPool;
  readonly store: TableStore;
  readonly audit: AuditLog;
  readonly budget: BudgetLedger;
  readonly log: (line: string) => void;
  readonly connectionParams: ConnectionParams;
}

/**
 * Every query on this node, from either side: the proposal (checked against every rule before any cryptography),
 * the connections of the query, the choice of this member's machine, the audit entries at each step, and the
 * result file. The node around it only starts and stops things.
 */
export class QueryCoordinator {
  private readonly joins = new JoinRegistry();
  /** Authenticated connections that have sent nothing yet, bounded per member. */
  private readonly idle = new IdleConnections();
  /** This node's own users' queries: they wait in line beyond the limit. */
  private readonly ownQueries = new QueryGate(MAX_CONCURRENT_QUERIES);
  /** Queries proposed by peers: refused beyond the limit (queueing them could deadlock two busy nodes). */
  private readonly peerQueries = new PeerQueryGates(MAX_CONCURRENT_PEER_QUERIES, MAX_CONCURRENT_QUERIES_PER_PEER);
  /** Every query running here, from either side, for a graceful stop: it refuses new ones and waits for these. */
  readonly drain = new QueryDrain();
  /** This node's own queries while they run, for their users to cancel. */
  private readonly cancels = new Cancellations();

  private readonly cfg: LoadedConfig;
  private readonly memberId: string;
  private readonly pool: CryptoPool;
  private readonly store: TableStore;
  private readonly audit: AuditLog;
  private readonly budget: BudgetLedger;
  private readonly log: (line: string) => void;
  /**
   * The manifest in force and the handshake parameters of its hash, swapped as one by useManifest. Each query reads
   * them once when it starts (a peer's: from the connection it came on) and keeps them to the end.
   */
  private params: ConnectionParams;

  constructor(d: CoordinatorDeps) {
    this.cfg = d.cfg;
    this.memberId = d.memberId;
    this.pool = d.pool;
    this.store = d.store;
    this.audit = d.audit;
    this.budget = d.budget;
    this.log = d.log;
    this.params = d.connectionParams;
  }

  /** The manifest new queries are checked against; one running keeps its own. */
  private get manifest(): Manifest {
    return this.params.manifest;
  }

  /** A newer manifest, signed by every member: queries from now on use it; those running finish on theirs. */
  useManifest(params: ConnectionParams): void {
    this.params = params;
  }

  /** Ends the joins still waiting for their query. */
  close(): void {
    this.joins.close();
  }

  /** Runs a query this node's user submitted: plan and check locally, then propose it to every other member in it. */
  async query(sql: string, onProgress?: (p: Progress) => void): Promise<QueryOutcome> {
    const queryId = randomBytes(16).toString('hex');
    const leave = this.drain.enter();
    const cancel = this.cancels.begin(queryId);
    try {
      // The id first, so that the user can cancel the query from the start, waiting in line included.
      onProgress?.({ queryId, stage: 'proposing', ownKeys: 0 });
      // Cancelled in line: never started, nothing charged, nobody asked, nothing to audit; its slot passes on.
      const entered = this.ownQueries.enter((ahead) => onProgress?.({ queryId, stage: 'queued', ownKeys: 0, ahead }));
      const release = await untilCancelled(entered, cancel.signal, (r) => r());
      try {
        // A query that waited in line while the node began to stop never starts: nothing charged, nobody asked.
        this.drain.refuseIfStopping();
        return await this.runOwn(queryId, sql, onProgress, cancel.signal);
      } finally {
        release();
      }
    } finally {
      cancel.forget();
      leave();
    }
  }

  /** Cancels a running query of this node's users: it fails with CANCELLED here and on every member (SPEC §6). */
  cancel(queryId: string): boolean {
    return this.cancels.cancel(queryId, this.memberId);
  }

  private async runOwn(queryId: string, sql: string, onProgress: ((p: Progress) => void) | undefined, signal: AbortSignal): Promise<QueryOutcome> {
    const entry = { queryId, querier: this.memberId, sql };
    // This query's manifest, whatever the node loads while it runs.
    const params = this.params;
    let plan: QueryPlan | undefined;
    try {
      plan = await this.plan(sql, this.memberId, params.manifest);
      await this.prepareOwnTable(plan);
      await this.checkOwnSet(plan);
      // The querier accepts its own query by proposing it: its tables are charged like every other owner's.
      await this.charge(queryId, plan);
      // Cancelled while it was checked: a charge made stays made (charges are never refunded).
      signal.throwIfAborted();
    } catch (err) {
      if (plan) await this.releaseOwnSide(plan);
      await this.record({ ...entry, event: endedAs(err, 'refused'), peers: [], detail: auditDetail(err) });
      throw err;
    }
    const peers = plan.members.filter((m) => m !== this.memberId);
    await this.record({ ...entry, event: 'proposed', peers, detail: this.planDetail(plan, params.manifest) });
    const conns = new Map<string, PeerConnection>();
    // Once one member refused, a connection that completes later is closed with the abort at once.
    let abandoned: unknown;
    try {
      const proposals = Promise.all(
        peers.map(async (id) => {
          const peer = params.manifest.members.find((m) => m.id === id)!;
          const conn = await PeerConnection.dial(peer.endpoint, peer.id, params);
          conns.set(id, conn);
          if (abandoned !== undefined) return closeAll(new Map([[id, conn]]), queryId, abandoned);
          const offer = new ProposalOffer({ queryId, querier: this.memberId, sql, peer: id });
          for (const m of offer.start().send) await conn.send(m);
          const answer = offer.receive(await conn.next(PROPOSAL_TIMEOUT_MS));
          for (const m of answer.send) await conn.send(m);
          if (answer.outcome?.kind !== 'accepted') throw answer.outcome && 'error' in answer.outcome ? answer.outcome.error : new CleanroomError('INTERNAL', `proposal to ${id} ended without an answer`);
        }),
      );
      // A cancel does not wait for a member still checking the proposal: the abort reaches it on its connection.
      await untilCancelled(proposals, signal);
    } catch (err) {
      abandoned = err;
      closeAll(conns, queryId, err);
      await this.releaseOwnSide(plan);
      await this.record({ ...entry, event: endedAs(err, 'refused'), peers, detail: auditDetail(err) });
      throw err;
    }
    let failure: unknown;
    try {
      await this.record({ ...entry, event: 'accepted', peers, detail: this.planDetail(plan, params.manifest) });
      this.log(`query ${queryId} accepted by ${peers.join(', ')} (${plan.mode})`);
      return await this.finish(queryId, plan, sql, await this.run(queryId, plan, conns, onProgress, signal));
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      closeAll(conns, queryId, failure);
    }
  }

  /** A peer dialled in: it proposes one query on this connection, or joins one this node already accepted. */
  async serve(conn: PeerConnection): Promise<void> {
    // Until a proposal names its query, a failure is reported under the id of no query (SPEC §6).
    let queryId = NO_QUERY_ID;
    let failure: unknown;
    let release: (() => void) | undefined;
    let leave: (() => void) | undefined;
    const conns = new Map<string, PeerConnection>([[conn.peer, conn]]);
    const idle = this.idle.hold(conn);
    try {
      const answer = new ProposalAnswer(conn.peer);
      const first = answer.receive(await conn.next(PROPOSAL_TIMEOUT_MS).finally(idle.settled));
      for (const m of first.send) await conn.send(m);
      const msg = first.outcome!;
      if (msg.kind === 'join') {
        // The connection now belongs to the query it joins, not to this handler.
        conns.delete(conn.peer);
        this.joins.offer(msg.queryId, conn);
        return;
      }
      if (msg.kind !== 'proposed') throw msg.kind === 'failed' ? msg.error : new CleanroomError('INTERNAL', `a first message ended in ${msg.kind}`);
      queryId = msg.queryId;
      const entry = { queryId, querier: msg.querier, sql: msg.sql };
      let plan: QueryPlan;
      try {
        // A join (above) belongs to a query accepted already, which a stopping node still finishes; a proposal does not.
        leave = this.drain.enter();
        release = this.peerQueries.tryEnter(conn.peer);
        // The manifest the connection was authenticated with, which the querier planned by too.
        plan = await this.plan(msg.sql, msg.querier, conn.params.manifest);
        if (!plan.members.includes(conn.peer)) throw new CleanroomError('QUERY_INVALID', `${conn.peer} proposed a query on none of its own tables`);
        await this.prepareOwnTable(plan);
        await this.charge(queryId, plan);
      } catch (err) {
        const e = asCleanroomError(err);
        this.log(`query ${queryId} from ${conn.peer} refused: ${e.message}`);
        await this.record({ ...entry, event: 'refused', peers: [conn.peer], detail: auditDetail(e) });
        for (const m of answer.refuse(e).send) await conn.send(m);
        return;
      }
      const peers = plan.members.filter((m) => m !== this.memberId);
      // On disk before the answer: no query runs on this node's tables without a record of it.
      await this.record({ ...entry, event: 'accepted', peers, detail: this.planDetail(plan, conn.params.manifest) });
      failpoint('before-accept');
      for (const m of answer.accept().send) await conn.send(m);
      this.log(`query ${queryId} from ${conn.peer} accepted (${plan.mode})`);
      if (peers.length > 1) await this.meshFor(queryId, plan, msg.querier, conns, conn.params);
      await this.finish(queryId, plan, msg.sql, await this.run(queryId, plan, conns));
    } catch (err) {
      failure = err;
      this.log(`query ${queryId} with ${conn.peer} failed: ${errorMessage(err)}`);
    } finally {
      release?.();
      closeAll(conns, queryId, failure);
      leave?.();
    }
  }

  /**
   * The connections of a join of three or more, besides the querier's: between two other members, the one
   * earlier in the query's member order dials the later one and says `join`.
   */
  private async meshFor(queryId: string, plan: QueryPlan, querier: string, conns: Map<string, PeerConnection>, params: ConnectionParams): Promise<void> {
    const order = plan.members.filter((m) => m !== querier);
    const mine = order.indexOf(this.memberId);
    // A connection that completes after another failed would outlive the query: close it with the abort at once.
    let abandoned: unknown;
    try {
      await Promise.all(
        order
          .filter((m) => m !== this.memberId)
          .map(async (id) => {
            let conn: PeerConnection;
            if (order.indexOf(id) > mine) {
              const peer = params.manifest.members.find((m) => m.id === id)!;
              conn = await PeerConnection.dial(peer.endpoint, peer.id, params);
              await conn.send({ type: 'join', queryId });
            } else {
              conn = await this.joins.expect(queryId, id, PROPOSAL_TIMEOUT_MS);
            }
            if (abandoned !== undefined) return closeAll(new Map([[id, conn]]), queryId, abandoned);
            conns.set(id, conn);
          }),
      );
    } catch (err) {
      abandoned = err;
      throw err;
    }
  }

  private run(queryId: string, plan: QueryPlan, conns: ReadonlyMap<string, PeerConnection>, onProgress?: (p: Progress) => void, signal?: AbortSignal): Promise<Outcome> {
    const ctx = { queryId, plan, collaborationId: this.manifest.collaborationId, conns, pool: this.pool, store: this.store, onProgress, idleTimeoutMs: this.cfg.config.sessionIdleTimeoutMs, self: this.memberId, signal };
    return drive(this.machineFor(queryId, plan, [...conns.keys()]), ctx);
  }

  /** This member's machine for the query: a federated query, a two-party PSI, or a join of three or more. */
  private machineFor(queryId: string, plan: QueryPlan, peers: readonly string[]): Machine {
    const self = this.memberId;
    const group = selectBackend(this.pool.backend);
    if (plan.mode === 'federated') return new FederatedSession({ queryId, plan, self, group, newSecret: () => QuerySecret.generate() });
    const aggregator = plan.aggregator.table.owner === self;
    if (peers.length === 1) {
      const params = { queryId, plan, self, peer: peers[0]!, group, secret: QuerySecret.generate() };
      if (aggregator) return new AggregatorSession(params);
      // SPEC §4.6: one secret per part of this member's set, so that a key's points in two parts do not link.
      const parts = plan.mode === 'aggregate' ? plan.partnerGroups?.labels : undefined;
      return new PartnerSession(parts ? { ...params, partSecrets: parts.map(() => QuerySecret.generate()) } : params);
    }
    return new RingSession({ queryId, plan, self, group, secret: QuerySecret.generate(), ...(aggregator ? { extra: QuerySecret.generate() } : {}) });
  }

  private async plan(sql: string, querier: string, manifest: Manifest): Promise<QueryPlan> {
    const plan = planQuery(await parseQuery(sql), manifest, querier);
    const noise = noisePlan(plan, noiseAdders(plan));
    if (noise) assertAddedPointsFit(noise);
    const members = plan.members;
    if (!members.includes(this.memberId)) throw new CleanroomError('QUERY_INVALID', `${this.memberId} owns none of the query's tables`);
    if (!plan.receivers.some((r) => members.includes(r))) {
      throw new RuleViolation('receivers', `none of the result receivers (${plan.receivers.join(', ')}) takes part in this query, so nobody could receive its result`, 'joins with a table of a receiver, or federated tables');
    }
    if (!members.includes(querier)) throw new CleanroomError('QUERY_INVALID', `a querier asks about its own table joined with others'; ${querier} owns none of ${plan.aggregator.table.name}, ${plan.others.map((o) => o.table.name).join(', ')}`);
    return plan;
  }

  private async prepareOwnTable(plan: QueryPlan): Promise<void> {
    const own = [plan.aggregator, ...plan.others].find((s) => holdersOf(s.table).includes(this.memberId));
    // A receiver of a federated query that holds no part has no table to open. Only the columns the query
    // reads decide: a bad value elsewhere in the file does not refuse it.
    if (own) await this.store.prepare(own.table, columnsRead(plan, own));
  }

  /** What this node read of its own table for a query that will not run: the driver releases it otherwise. */
  private async releaseOwnSide(plan: QueryPlan): Promise<void> {
    const own = [plan.aggregator, ...plan.others].find((s) => s.table.owner === this.memberId);
    if (own) await this.store.release(own);
  }

  /** SPEC §4.2: the querier's own padded set, which no peer can count, against the minimum of a table without a policy. */
  private async checkOwnSet(plan: QueryPlan): Promise<void> {
    const own = [plan.aggregator, ...plan.others].find((s) => s.table.owner === this.memberId);
    if (!own || !querierChecksOwnSet(plan, own.table)) return;
    // The counted keys are kept for the query's key stream (no second pass); `runOwn` releases them if it never runs.
    assertOwnSetSize(plan, await this.store.distinctKeys(own, columnsRead(plan, own)), own.table);
  }

  /**
   * SPEC §10.4: before this node accepts a DP query, every table of its own in it is charged the query's ε, durably,
   * so that neither a crash nor a concurrent query can spend more than the budget. A charge is never refunded.
   */
  private async charge(queryId: string, plan: QueryPlan): Promise<void> {
    const privacy = plan.privacy;
    const own = privacy?.charges.filter((c) => c.owners.includes(this.memberId)) ?? [];
    if (own.length === 0) return;
    await this.budget.charge(queryId, own.map((c) => ({ table: c.table, cost: c.cost, budget: c.budget })));
    this.log(`query ${queryId}: charged ${chargesText(own)}`);
  }

  /** The audit's word on a plan: its mode, and for a DP query the ε charged here and to which tables. */
  /** The manifest version goes last, so that the history can say which rules a query was checked against. */
  private planDetail(plan: QueryPlan, checkedBy: Manifest): string {
    const own = plan.privacy?.charges.filter((c) => c.owners.includes(this.memberId)) ?? [];
    const manifest = `; manifest v${checkedBy.version}`;
    if (!plan.privacy) return `${plan.mode}${manifest}`;
    const charged = own.length > 0 ? `charged ${chargesText(own)}` : 'no table of this member charged';
    return `${plan.mode}, differentially private (${charged})${manifest}`;
  }

  private async record(e: AuditInput): Promise<void> {
    await this.audit.append(e);
  }

  private async finish(queryId: string, plan: QueryPlan, sql: string, outcome: Outcome): Promise<QueryOutcome> {
    const entry = { queryId, querier: plan.querier, sql, peers: plan.members.filter((m) => m !== this.memberId) };
    const columns = plan.outputs.map((o) => o.name);
    if (outcome.kind === 'failed') {
      this.log(`query ${queryId} failed: ${outcome.error.message}`);
      await this.record({ ...entry, event: endedAs(outcome.error, 'failed'), detail: auditDetail(outcome.error) });
      throw outcome.error;
    }
    if (outcome.kind === 'released') {
      this.log(`query ${queryId} done: ${outcome.groups} group(s) released to ${outcome.receivers.join(', ')}`);
      await this.record({ ...entry, event: 'released', detail: '', released: { groups: outcome.groups, receivers: [...outcome.receivers], columns } });
      return { kind: 'released', queryId, groups: outcome.groups, receivers: outcome.receivers };
    }
    if (outcome.kind !== 'result') throw new CleanroomError('INTERNAL', `a sub-protocol outcome (${outcome.kind}) reached the end of query ${queryId}`);
    // Said once here, so that the CLI, its --json, the saved file and the console all read the same sentence.
    const result = { ...outcome.result, counts: countsText(plan) };
    // What was opened to this member: HAVING and LIMIT may show fewer rows than that.
    const groups = result.afterRelease?.released ?? result.rows.length;
    await this.record({ ...entry, event: 'result', detail: '', released: { groups, receivers: [this.memberId], columns } });
    const dir = this.cfg.path(this.cfg.config.resultsDir);
    // Results are for this member's own people: owner-only, like the identity key and the hash cache.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(`${dir}/${queryId}.json`, JSON.stringify({ querier: plan.querier, ...result }, null, 2) + '\n', { mode: 0o600 });
    this.log(`query ${queryId} done: result with ${result.rows.length} row(s) saved in ${this.cfg.config.resultsDir}/${queryId}.json`);
    return { kind: 'result', result };
  }
}

/** The audit's event for a query that ended without a result: `cancelled` when a member's user cancelled it. */
function endedAs(err: unknown, otherwise: 'refused' | 'failed'): 'cancelled' | 'refused' | 'failed' {
  return asCleanroomError(err).code === 'CANCELLED' ? 'cancelled' : otherwise;
}

/** `ε = 1 to advertiser, ρ = 0.0152 to visits`. */
function chargesText(charges: readonly BudgetCharge[]): string {
  return charges.map((c) => `${amountText(c.cost.unit, c.cost.amount)} to ${c.table}`).join(', ');
}

/** Ends a query's connections: `bye` when it went well here, `abort` to every peer when it failed here. */
function closeAll(conns: ReadonlyMap<string, PeerConnection>, queryId: string, failure: unknown): void {
  const e = failure === undefined ? undefined : asCleanroomError(failure);
  const abort = e ? { type: 'abort' as const, queryId, ...forPeer(e) } : undefined;
  for (const c of conns.values()) c.close(abort);
}

/**
 * What the audit log keeps of an error. SPEC §8: the log never holds rows or keys, and the messages of errors
 * about this node's own data or setup can quote a cell or a line, so for those it keeps what `forPeer` says.
 */
export function auditDetail(err: unknown): string {
  const e = asCleanroomError(err);
  // A violation names the rule the peer broke (SPEC §6), e.g. `PROTOCOL_VIOLATION (bad-proof)`, as its abort does.
  const reason = e instanceof ProtocolViolation ? ` (${e.reason})` : '';
  return `${e.code}${reason}: ${e instanceof DataInvalid ? e.summary : forPeer(e).message}`;
}
