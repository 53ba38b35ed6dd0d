/**
 * Both parties of a two-party query in one process, over in-memory pipes: no sockets, no DuckDB.
 *
 * The harness plays the part of src/node/driver.ts for both members: it hashes each side's own
 * distinct normalised keys and feeds them to its machine in batches, answers its blind requests in order, answers the aggregator's `aggregate`
 * request from small in-memory tables (../support/memory-tables.ts stands in for TableStore's DuckDB), and
 * carries every message across as a msgpack frame, decoded with the SessionMessage schema exactly as
 * PeerConnection does. A test may intercept any message in flight to alter, drop, duplicate, delay or
 * replace it, or hand a machine a message directly.
 */
import type { GroupAggregate } from '../../src/query/result.js';
import { randomBytes } from 'node:crypto';
import { SessionMessage } from '../../src/wire/messages.js';
import { selectBackend } from '../../src/crypto/backend.js';
import { hashToGroupDst, type PsiGroup } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { asCleanroomError, forPeer, type CleanroomError } from '../../src/errors.js';
import { AggregatorSession } from '../../src/session/aggregator.js';
import { completeBlinds } from '../support/local-driver.js';
import { PartnerSession } from '../../src/session/partner.js';
import type { Outcome, Step } from '../../src/session/step.js';
import { ownDimensions, type QueryPlan } from '../../src/query/plan.js';
import { plan, type Collaboration } from '../support/collaboration.js';
import type { Dataset } from '../support/datasets.js';
import { aggregateMatched, aggregateMatchedParts, distinctKeys, partKeys } from '../support/memory-tables.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';

// ---------------------------------------------------------------------------------------------------------
// The two-party run
// ---------------------------------------------------------------------------------------------------------

export type Role = 'P' | 'Q';
export const other = (r: Role): Role => (r === 'P' ? 'Q' : 'P');

/**
 * A message on the wire; or raw frame bytes that skip encoding (for schema-level tests); or a message that
 * skips the codec altogether (for what the schema would refuse: the machine's own checks).
 */
export type Wire = SessionMessage | { readonly raw: Uint8Array } | { readonly unchecked: SessionMessage };

export interface Flight {
  readonly from: Role;
  readonly to: Role;
  readonly msg: SessionMessage;
  /** 0-based position of this message among everything `from` sent. */
  readonly n: number;
}

/**
 * Sees every message leaving a party before it crosses. Return undefined to let it through unchanged, or
 * what to put on the wire instead: [] drops it, [m, m] duplicates it, [altered] replaces it, [held, m]
 * delivers a message held back earlier first (reordering).
 */
export type Interceptor = (f: Flight, s: Scenario) => readonly Wire[] | undefined;

export interface ScenarioOptions {
  readonly collaboration: Collaboration;
  readonly sql: string;
  readonly querier: string;
  readonly data: Dataset;
  readonly backend?: 'noble' | 'sodium' | PsiGroup;
  /** Own keys per ownHashed call (the node uses PSI_BATCH_KEYS); small batches exercise the batch numbering. */
  readonly batchKeys?: number;
  /** 'interleaved' (default): own batches are fed between message deliveries, as the node's producer and consumer run concurrently. */
  readonly feed?: 'interleaved' | 'first';
  readonly intercept?: Interceptor;
  /** Rewrites the driver's answer to `aggregate` before it reaches the aggregator. */
  readonly aggregates?: (honest: GroupAggregate[]) => GroupAggregate[];
  readonly queryId?: string;
}

/** A machine's step as the two-party wire sees it: every envelope goes to the one peer, so only the messages count. */
export interface PartyStep {
  readonly send: readonly SessionMessage[];
  readonly aggregate?: readonly number[] | 'all';
  readonly parts?: readonly number[];
  readonly outcome?: Outcome;
}

function onTheWire(step: Step): PartyStep {
  return { ...step, send: step.send.map((e) => e.msg) };
}

export interface Party {
  readonly role: Role;
  readonly member: string;
  readonly plan: QueryPlan;
  readonly machine: AggregatorSession | PartnerSession;
  readonly secret: QuerySecret;
  /** A copy of the scalar taken before the machine saw it (tests recompute blinded values with it). */
  readonly secretBytes: Uint8Array;
  /** Own distinct normalised keys, in the order they were fed (a partner's in parts: of each part, part by part). */
  readonly keys: readonly string[];
  /** SPEC §4.6: a partner's set in parts, the keys of each, and a copy of each part's secret. */
  readonly parts?: readonly (readonly string[])[];
  readonly partSecretBytes?: readonly Uint8Array[];
  /** Own key batches not yet fed (each of one part); ownEnd follows the last. */
  pendingBatches: { readonly part: number; readonly keys: string[] }[];
  /** Whether the machine was told its key count, as the driver does before the first batch. */
  counted: boolean;
  ownEnded: boolean;
  readonly received: SessionMessage[];
  readonly sent: SessionMessage[];
  /** Every step the machine returned (its blind requests answered), in order. */
  readonly steps: PartyStep[];
  /** Messages the driver would no longer read because this party had its outcome already. */
  readonly unread: SessionMessage[];
  /** The aggregator's `aggregate` request (matched own key indices, and the partner's part of each) and the driver's answer. */
  matchedIndices?: readonly number[];
  matchedParts?: readonly number[];
  aggregatesGiven?: readonly GroupAggregate[];
  outcome?: Outcome;
  /** A frame refused before it reached the machine (decodeFrame), as PeerConnection would report it. */
  frameError?: CleanroomError;
}

export class Scenario {
  readonly P: Party;
  readonly Q: Party;
  readonly group: PsiGroup;
  readonly queryId: string;
  readonly dst: Uint8Array;
  /** Everything each party sent, before interception, in order. */
  readonly queues: Record<Role, Wire[]> = { P: [], Q: [] };
  /** The wire log: every frame delivered, in delivery order. */
  readonly wire: { from: Role; to: Role; msg: SessionMessage }[] = [];
  private readonly sentCount: Record<Role, number> = { P: 0, Q: 0 };

  private constructor(
    readonly options: ScenarioOptions,
    plans: { P: QueryPlan; Q: QueryPlan },
  ) {
    const o = options;
    this.group = typeof o.backend === 'object' ? o.backend : selectBackend(o.backend ?? 'sodium');
    this.queryId = o.queryId ?? randomBytes(16).toString('hex');
    this.dst = hashToGroupDst(o.collaboration.manifest.collaborationId);
    const pMember = plans.P.aggregator.table.owner;
    const qMember = plans.P.others[0]!.table.owner;
    const make = (role: Role, member: string, peer: string, plan: QueryPlan): Party => {
      const secretBytes = randomBytes(32);
      const secret = QuerySecret.fromBytes(secretBytes);
      const side = role === 'P' ? plan.aggregator : plan.others[0]!;
      const groups = role === 'Q' && plan.mode === 'aggregate' ? plan.partnerGroups : undefined;
      const parts = groups ? partKeys(side, groups.positions.map((i) => plan.groupBy[i]!), groups.labels, o.data) : [distinctKeys(side, o.data)];
      const partSecretBytes = groups ? groups.labels.map(() => randomBytes(32)) : undefined;
      const params = { queryId: this.queryId, plan, self: member, peer, group: this.group, secret, ...(partSecretBytes ? { partSecrets: partSecretBytes.map((b) => QuerySecret.fromBytes(b)) } : {}) };
      const size = o.batchKeys ?? 16;
      const pendingBatches: { part: number; keys: string[] }[] = [];
      parts.forEach((keys, part) => {
        for (let i = 0; i < keys.length; i += size) pendingBatches.push({ part, keys: keys.slice(i, i + size) });
      });
      return {
        role,
        member,
        plan,
        machine: role === 'P' ? new AggregatorSession(params) : new PartnerSession(params),
        secret,
        secretBytes: Uint8Array.from(secretBytes),
        keys: parts.flat(),
        ...(groups ? { parts, partSecretBytes: partSecretBytes!.map((b) => Uint8Array.from(b)) } : {}),
        pendingBatches,
        counted: false,
        ownEnded: false,
        received: [],
        sent: [],
        steps: [],
        unread: [],
      };
    };
    this.P = make('P', pMember, qMember, plans.P);
    this.Q = make('Q', qMember, pMember, plans.Q);
  }

  /** Plans the query independently for each side (as each node does from the proposal) and sets both machines up. */
  static async create(options: ScenarioOptions): Promise<Scenario> {
    const { manifest } = options.collaboration;
    const planP = await plan(options.sql, manifest, options.querier);
    const planQ = await plan(options.sql, manifest, options.querier);
    const s = new Scenario(options, { P: planP, Q: planQ });
    // As the node's driver does first: what a machine sends before any event (a count-only DP query's dummy base).
    for (const p of [s.P, s.Q]) s.apply(p, s.complete(p, p.machine.start()));
    return s;
  }

  party(role: Role): Party {
    return role === 'P' ? this.P : this.Q;
  }

  get done(): boolean {
    return this.P.outcome !== undefined && this.Q.outcome !== undefined;
  }

  /** H(k) for keys, with the collaboration's DST. */
  hash(keys: readonly string[]): Uint8Array {
    return this.group.hashToGroup(keys.map((k) => new TextEncoder().encode(k)), this.dst);
  }

  /** Feeds one batch of own keys (or the end of them) to a party, as the node's producer loop does. */
  feedOne(role: Role): boolean {
    const p = this.party(role);
    if (p.ownEnded || p.outcome) return false;
    if (!p.counted) {
      p.counted = true;
      this.apply(p, this.complete(p, p.machine.ownKeyCount(new Set(p.keys).size)));
      return true;
    }
    const batch = p.pendingBatches.shift();
    if (batch) this.apply(p, this.complete(p, p.machine.ownHashed(this.hash(batch.keys), batch.part)));
    else {
      p.ownEnded = true;
      this.apply(p, this.complete(p, p.machine.ownEnd()));
    }
    return true;
  }

  /** Feeds all own keys of a party and ends its stream. */
  feedAll(role: Role): void {
    while (this.feedOne(role));
  }

  /** Delivers the next message in flight from `from` (through the interceptor); false when none is waiting. */
  deliverNext(from: Role): boolean {
    const wire = this.queues[from].shift();
    if (wire === undefined) return false;
    this.transmit(from, wire);
    return true;
  }

  /**
   * Runs the query: feeds own keys and moves messages both ways, one at a time and alternately, until both
   * parties have an outcome or nothing is left to do. Returns this, for chaining.
   */
  run(maxEvents = 1_000_000): this {
    const feedFirst = this.options.feed === 'first';
    if (feedFirst) {
      this.feedAll('P');
      this.feedAll('Q');
    }
    for (let events = 0; events < maxEvents; events++) {
      if (this.done) return this;
      let progressed = false;
      if (!feedFirst) {
        progressed = this.feedOne('P') || progressed;
        progressed = this.feedOne('Q') || progressed;
      }
      progressed = this.deliverNext('P') || progressed;
      progressed = this.deliverNext('Q') || progressed;
      if (!progressed) return this;
    }
    throw new Error(`scenario did not settle within ${maxEvents} events`);
  }

  /**
   * Hands a machine a message directly, bypassing the interceptor but not the wire codec. Returns the
   * machine's step (also applied: what it sends is queued to the peer). Unlike the pump, this delivers even
   * to a party that already has its outcome: that is how "anything after the end" is tested.
   */
  inject(to: Role, wire: Wire): PartyStep | undefined {
    return this.receiveFrame(other(to), to, wire, true);
  }

  /** Hands a machine a message object without the wire codec: for what the schema would have refused. */
  injectUnchecked(to: Role, msg: SessionMessage): PartyStep {
    const p = this.party(to);
    p.received.push(msg);
    const step = this.complete(p, p.machine.receive(this.party(other(to)).member, msg));
    this.apply(p, step, true);
    return step;
  }

  private transmit(from: Role, wire: Wire): void {
    const to = other(from);
    const n = this.sentCount[from]++;
    const out = 'type' in wire ? this.options.intercept?.({ from, to, msg: wire, n }, this) ?? [wire] : [wire];
    for (const w of out) this.receiveFrame(from, to, w, false);
  }

  private receiveFrame(from: Role, to: Role, wire: Wire, force: boolean): PartyStep | undefined {
    const receiver = this.party(to);
    let msg: SessionMessage;
    try {
      msg = 'unchecked' in wire ? wire.unchecked : decodeFrame('raw' in wire ? wire.raw : encodeFrame(wire), SessionMessage, 'session');
    } catch (err) {
      // PeerConnection fails the connection; the driver sends an abort and settles failed.
      if (receiver.outcome && !force) return undefined;
      const error = asCleanroomError(err);
      receiver.frameError = error;
      if (!receiver.outcome) {
        this.queueFrom(receiver, [{ type: 'abort', queryId: this.queryId, ...forPeer(error) }]);
        receiver.outcome = { kind: 'failed', error };
        receiver.secret.zero();
      }
      return undefined;
    }
    this.wire.push({ from, to, msg });
    if (receiver.outcome && !force) {
      receiver.unread.push(msg);
      return undefined;
    }
    receiver.received.push(msg);
    const step = this.complete(receiver, receiver.machine.receive(this.party(from).member, msg));
    this.apply(receiver, step, force);
    return step;
  }

  /** The node's driver runs requested multiplications on its worker pool; here they run at once, in order. */
  private complete(p: Party, step: Step): PartyStep {
    return onTheWire(completeBlinds(p.machine, step, this.group));
  }

  private apply(p: Party, step: PartyStep, force = false): void {
    p.steps.push(step);
    if (p.outcome && !force) return;
    this.queueFrom(p, step.send);
    if (step.aggregate) {
      const machine = p.machine;
      if (!(machine instanceof AggregatorSession)) throw new Error('aggregate request from the partner');
      if (step.aggregate === 'all') throw new Error('a two-party aggregator aggregates its matched rows only');
      p.matchedIndices = step.aggregate;
      const partner = p.plan.mode === 'aggregate' ? p.plan.partnerGroups : undefined;
      let honest: GroupAggregate[];
      if (partner) {
        if (!step.parts) throw new Error('matched keys without their parts');
        p.matchedParts = step.parts;
        const matched = step.aggregate.map((i, at) => [p.keys[i]!, step.parts![at]!] as const);
        honest = aggregateMatchedParts(p.plan.aggregator, ownDimensions(p.plan), p.plan, matched, partner, this.options.data);
      } else honest = aggregateMatched(p.plan.aggregator, p.plan.groupBy, p.plan, step.aggregate.map((i) => p.keys[i]!), this.options.data);
      const given = this.options.aggregates ? this.options.aggregates(honest) : honest;
      p.aggregatesGiven = given;
      this.apply(p, this.complete(p, machine.aggregates(given)));
    }
    if (step.outcome && !p.outcome) p.outcome = step.outcome;
  }

  private queueFrom(p: Party, msgs: readonly SessionMessage[]): void {
    for (const m of msgs) {
      p.sent.push(m);
      this.queues[p.role].push(m);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers for tests
// ---------------------------------------------------------------------------------------------------------

export async function runScenario(options: ScenarioOptions): Promise<Scenario> {
  return (await Scenario.create(options)).run();
}

export function failure(p: Party): CleanroomError {
  if (p.outcome?.kind !== 'failed') throw new Error(`${p.role} (${p.member}) did not fail: ${JSON.stringify(p.outcome, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return p.outcome.error;
}

/** A short description of a message: type, and stage for points/points-end/open. */
export function kindOf(m: SessionMessage): string {
  return 'stage' in m ? `${m.type}:${m.stage}` : m.type;
}

export function kinds(ms: readonly SessionMessage[]): string[] {
  return ms.map(kindOf);
}

/** All backends usable here (noble always; sodium when its binary loads). */
export function backendNames(): ('noble' | 'sodium')[] {
  const names: ('noble' | 'sodium')[] = ['noble'];
  try {
    selectBackend('sodium');
    names.push('sodium');
  } catch {
    // no native binary on this machine
  }
  return names;
}

/** Every message as the frame bytes that would be sealed and sent. */
export function encodeAll(ms: readonly SessionMessage[]): Uint8Array[] {
  return ms.map((m) => encodeFrame(m));
}
