import type { PsiGroup } from '../crypto/group.js';
import { countOnlyVector } from '../query/group-vector.js';
import type { GroupAggregate } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import type { QuerySecret } from '../crypto/secret.js';
import { shufflePoints } from '../crypto/shuffle.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { PSI_BATCH_KEYS } from '../limits.js';
import type { QueryPlan, TableSide } from '../query/plan.js';
import { InboundStream } from './point-stream.js';
import { PointSet } from './point-set.js';
import { Release } from './release.js';
import { assertSetSize } from './probe-guard.js';
import { Session } from './session.js';
import { followedBy, type Envelope, type Step } from './step.js';

/**
 * A join of three or more members (SPEC §4.4) as one pure state machine per member. Every member's key set is
 * blinded by every member's secret along a path; the non-aggregating members' fully blinded sets meet at the
 * combiner C, which hands P only their intersection; P matches its own fully blinded set against it. Then P's
 * per-group values are shared among all members and opened as in the two-party flow.
 *
 * Paths (P the aggregator, O_1..O_m the others in query order, C = O_1):
 *   P's set:   P (secret b, then t) → O_1 → … → O_m → P         only P's set carries t
 *   O_i's set: O_i → P (b) → O_i+1 → … (cyclic over the O's) → O_i-1 → C
 * so that P never holds another member's fully blinded set, C never holds P's, and no member ever holds two sets
 * blinded by the same secrets except C with the others' final sets (the documented combiner view).
 */
export interface RingParams {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly self: string;
  /** This member's blinding secret (P: b). */
  readonly secret: QuerySecret;
  /** P only: the second secret that keeps its own set incomparable with everyone else's. */
  readonly extra?: QuerySecret;
  /** The group the points are elements of: only their size matters here. */
  readonly group: PsiGroup;
}

type Continuation = { kind: 'own'; extraNext: boolean } | { kind: 'hop'; set: string } | { kind: 'intersection' };

/** A set passing through this member: batches in, blinded, then forwarded (in order, or all at once shuffled). */
interface Transit {
  readonly set: string;
  readonly inbound: InboundStream | null;
  pending: number;
  buffered: Uint8Array[];
  ended: boolean;
  seq: number;
  sent: number;
  done: boolean;
}

export class RingSession extends Session {
  private readonly p: string;
  private readonly others: readonly string[];
  private readonly combiner: string;
  private readonly members: readonly string[];
  private readonly transits = new Map<string, Transit>();
  private readonly finals = new Map<string, PointSet>();
  private readonly finalStreams = new Map<string, InboundStream>();
  private readonly queue: Continuation[] = [];
  private ownCount = 0;
  private intersectionSent = false;
  /** P: its own fully blinded set in its own order, and the intersection raised to t. */
  private ownFinal: Uint8Array[] = [];
  private intersection: PointSet;
  private intersectionPending = 0;
  private phase: 'psi' | 'aggregating' | 'done' = 'psi';
  private readonly release: Release;

  private readonly width: number;

  constructor(private readonly r: RingParams) {
    super(r.queryId);
    this.width = r.group.pointBytes;
    this.intersection = new PointSet(this.width);
    this.p = r.plan.aggregator.table.owner;
    this.others = r.plan.others.map((o) => o.table.owner);
    this.combiner = this.others[0]!;
    this.members = r.plan.members;
    if (!this.members.includes(r.self)) throw new CleanroomError('INTERNAL', `${r.self} takes no part in this query`);
    if ((r.self === this.p) !== (r.extra !== undefined)) throw new CleanroomError('INTERNAL', 'the aggregator, and only it, has a second secret');
    // P deals its values to every member, checks the counts it computed, and sends the labels to the receivers.
    const receivers = r.plan.receivers.filter((x) => this.members.includes(x));
    this.release = new Release({
      queryId: r.queryId,
      plan: r.plan,
      self: r.self,
      holders: this.members,
      dealers: [this.p],
      receivers,
      labelsFrom: this.p,
      labelsTo: receivers.filter((x) => x !== this.p),
      verifyCounts: true,
    });
  }

  /** The members this one exchanges messages with. */
  get peers(): readonly string[] {
    return this.members.filter((m) => m !== this.r.self);
  }

  get side(): TableSide {
    return [this.r.plan.aggregator, ...this.r.plan.others].find((t) => t.table.owner === this.r.self)!;
  }

  get keyed(): boolean {
    return true;
  }

  /** The order in which the members blind `set`, owner first. */
  pathOf(set: string): string[] {
    if (set === this.p) return [this.p, ...this.others];
    const i = this.others.indexOf(set);
    const rest = [...this.others.slice(i + 1), ...this.others.slice(0, i)];
    return [set, this.p, ...rest];
  }

  /** Where the fully blinded `set` goes after its last blinding. */
  private destinationOf(set: string): string {
    return set === this.p ? this.p : this.combiner;
  }

  private ordered(set: string): boolean {
    return set === this.p && this.r.plan.mode === 'aggregate';
  }

  /** A batch of this member's own H(k). */
  ownHashed(hashed: Uint8Array): Step {
    // Own batches still in flight when the session already ended (a peer's abort) are moot.
    return this.unlessEnded(() => {
      if (this.phase !== 'psi') throw new CleanroomError('INTERNAL', 'own keys after the PSI phase');
      this.transit(this.r.self, null).pending += 1;
      this.ownCount += hashed.length / this.width;
      this.queue.push({ kind: 'own', extraNext: this.r.extra !== undefined });
      return { send: [], blind: [{ points: hashed, secret: this.r.secret }] };
    });
  }

  ownEnd(): Step {
    return this.unlessEnded(() => {
      const t = this.transit(this.r.self, null);
      t.ended = true;
      return followedBy(this.flush(t), this.afterPsi());
    });
  }

  /** The result of the oldest outstanding blind request. */
  blinded(result: Uint8Array): Step {
    return this.unlessEnded(() => {
      const c = this.queue.shift();
      if (!c) throw new CleanroomError('INTERNAL', 'a blinded batch nobody asked for');
      if (c.kind === 'own' && c.extraNext) {
        this.queue.push({ kind: 'own', extraNext: false });
        return { send: [], blind: [{ points: result, secret: this.r.extra! }] };
      }
      if (c.kind === 'intersection') {
        this.intersection.addAll(result);
        this.intersectionPending -= 1;
        return this.afterPsi();
      }
      const t = this.transits.get(c.kind === 'own' ? this.r.self : c.set)!;
      t.pending -= 1;
      return followedBy(this.forward(t, result), this.afterPsi());
    });
  }

  protected handle(from: string, msg: Exclude<SessionMessage, { type: 'abort' }>): Step {
    switch (msg.type) {
      case 'ring':
        return this.onRing(from, msg.set, msg.stage, msg);
      case 'ring-end':
        return this.onRingEnd(from, msg.set, msg.stage, msg.batches, msg.count);
      case 'shares':
      case 'open':
      case 'labels':
        return this.released(this.release.receive(from, msg));
      default:
        throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in a join of ${this.members.length} members`);
    }
  }

  // ---- PSI ----

  private onRing(from: string, set: string, stage: 'hop' | 'final', msg: { seq: number; points: Uint8Array }): Step {
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `ring points in phase ${this.phase}`);
    if (stage === 'hop') {
      const t = this.hopTransit(from, set);
      t.inbound!.accept(msg);
      t.pending += 1;
      this.queue.push({ kind: 'hop', set });
      return { send: [], blind: [{ points: msg.points, secret: this.r.secret }] };
    }
    const stream = this.finalStream(from, set);
    stream.accept(msg);
    if (set === '*') {
      this.intersectionPending += 1;
      this.queue.push({ kind: 'intersection' });
      return { send: [], blind: [{ points: msg.points, secret: this.r.extra! }] };
    }
    if (set === this.p) this.ownFinal.push(msg.points);
    else this.finalSet(set).addAll(msg.points);
    return this.afterPsi();
  }

  private onRingEnd(from: string, set: string, stage: 'hop' | 'final', batches: number, count: number): Step {
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `ring-end in phase ${this.phase}`);
    if (stage === 'hop') {
      const t = this.hopTransit(from, set);
      t.inbound!.end(batches, count);
      assertSetSize(this.r.plan, count, this.side.table);
      t.ended = true;
      return followedBy(this.flush(t), this.afterPsi());
    }
    this.finalStream(from, set).end(batches, count);
    // The intersection may be small: only another member's own set is a probe.
    if (set !== '*' && set !== this.r.self) assertSetSize(this.r.plan, count, this.side.table);
    return this.afterPsi();
  }

  /** The transit of `set` at this member as a blinding hop, checking that `from` is the hop before. */
  private hopTransit(from: string, set: string): Transit {
    if (set === '*') throw new ProtocolViolation('unexpected-message', 'the intersection is never blinded on its way');
    if (!this.members.includes(set)) throw new ProtocolViolation('unexpected-message', `no member ${set} in this query`);
    // SPEC §4.4: every set is blinded by every member along a fixed path.
    const path = this.pathOf(set);
    const h = path.indexOf(this.r.self);
    if (h < 1 || path[h - 1] !== from) throw new ProtocolViolation('unexpected-sender', `${from} is not the hop before ${this.r.self} on the path of ${set}'s set`);
    return this.transit(set, new InboundStream(`${set}/hop`));
  }

  private finalStream(from: string, set: string): InboundStream {
    const expectedFrom = set === '*' ? this.combiner : this.pathOf(set).at(-1);
    const expectedTo = set === '*' ? this.p : this.destinationOf(set);
    if (!this.members.includes(set) && set !== '*') throw new ProtocolViolation('unexpected-message', `no member ${set} in this query`);
    if (expectedTo !== this.r.self || expectedFrom !== from || from === this.r.self) {
      throw new ProtocolViolation('unexpected-sender', `${from} may not deliver the final set ${set} to ${this.r.self}`);
    }
    let s = this.finalStreams.get(set);
    if (!s) this.finalStreams.set(set, (s = new InboundStream(`${set}/final`)));
    return s;
  }

  private transit(set: string, inbound: InboundStream | null): Transit {
    let t = this.transits.get(set);
    if (!t) this.transits.set(set, (t = { set, inbound, pending: 0, buffered: [], ended: false, seq: 0, sent: 0, done: false }));
    return t;
  }

  private finalSet(set: string): PointSet {
    let s = this.finals.get(set);
    if (!s) this.finals.set(set, (s = new PointSet(this.width)));
    return s;
  }

  /** A blinded batch of a set at this member: onwards at once when its order matters, else kept for the shuffle. */
  private forward(t: Transit, blinded: Uint8Array): Envelope[] {
    const path = this.pathOf(t.set);
    const last = path.at(-1) === this.r.self;
    if (last && this.destinationOf(t.set) === this.r.self) {
      // Only C ends its own path (as last hop of O_2's set): the set is final here.
      this.finalSet(t.set).addAll(blinded);
      return this.flush(t);
    }
    if (this.ordered(t.set)) return [...this.batches(t, blinded), ...this.flush(t)];
    t.buffered.push(blinded);
    return this.flush(t);
  }

  /** Once a set is complete here, sends what was held back (shuffled) and its end marker. */
  private flush(t: Transit): Envelope[] {
    if (!t.ended || t.pending > 0 || t.done) return [];
    t.done = true;
    const path = this.pathOf(t.set);
    const last = path.at(-1) === this.r.self;
    if (last && this.destinationOf(t.set) === this.r.self) return [];
    const out = t.buffered.length > 0 ? this.batches(t, shufflePoints(Buffer.concat(t.buffered))) : [];
    t.buffered = [];
    const { to, stage } = this.nextOf(t.set);
    return [...out, { to, msg: { type: 'ring-end', queryId: this.r.queryId, set: t.set, stage, batches: t.seq, count: t.sent } }];
  }

  private nextOf(set: string): { to: string; stage: 'hop' | 'final' } {
    const path = this.pathOf(set);
    const h = path.indexOf(this.r.self);
    return h === path.length - 1 ? { to: this.destinationOf(set), stage: 'final' } : { to: path[h + 1]!, stage: 'hop' };
  }

  private batches(t: Transit, points: Uint8Array): Envelope[] {
    const { to, stage } = this.nextOf(t.set);
    return this.batchesTo(to, t, points, stage);
  }

  private batchesTo(to: string, t: Transit, points: Uint8Array, stage: 'hop' | 'final' = 'final'): Envelope[] {
    const out: Envelope[] = [];
    for (let off = 0; off < points.length; off += PSI_BATCH_KEYS * this.width) {
      const chunk = points.subarray(off, Math.min(points.length, off + PSI_BATCH_KEYS * this.width));
      out.push({ to, msg: { type: 'ring', queryId: this.r.queryId, set: t.set, stage, seq: t.seq++, points: chunk } });
      t.sent += chunk.length / this.width;
    }
    return out;
  }

  /** Advances once this member's part of the PSI is complete. */
  private afterPsi(): Step {
    if (this.phase !== 'psi') return { send: [] };
    const self = this.r.self;
    const transitsDone = this.members.every((set) => {
      const path = this.pathOf(set);
      return !path.includes(self) || this.transits.get(set)?.done === true;
    });
    if (!transitsDone) return { send: [] };
    if (self === this.combiner) {
      const finalsFrom = this.others.filter((o) => this.pathOf(o).at(-1) !== self);
      if (!finalsFrom.every((o) => this.finalStreams.get(o)?.ended)) return { send: [] };
      if (this.intersectionSent) return { send: [] };
      this.intersectionSent = true;
      this.r.secret.zero();
      return { send: this.sendIntersection() };
    }
    if (self !== this.p) {
      this.r.secret.zero();
      this.aggregating();
      return { send: [] };
    }
    if (!this.finalStreams.get(this.p)?.ended || !this.finalStreams.get('*')?.ended || this.intersectionPending > 0) return { send: [] };
    const own = Buffer.concat(this.ownFinal);
    if (own.length / this.width !== this.ownCount) throw new ProtocolViolation('bad-count', `${own.length / this.width} of ${this.ownCount} own keys came back`);
    const matched: number[] = [];
    for (let off = 0; off < own.length; off += this.width) if (this.intersection.has(own, off)) matched.push(off / this.width);
    this.r.secret.zero();
    this.r.extra!.zero();
    this.ownFinal = [];
    this.intersection.clear();
    this.aggregating();
    if (this.r.plan.mode === 'count-only') {
      const n = BigInt(matched.length);
      return this.released(this.release.deal([{ labels: [], values: countOnlyVector(n) }]));
    }
    return { send: [], aggregate: matched };
  }

  /** C: the intersection of the others' fully blinded sets, shuffled, to P. */
  private sendIntersection(): Envelope[] {
    const [first, ...rest] = this.others.map((o) => this.finals.get(o) ?? new PointSet(this.width));
    const inAll: Uint8Array[] = [];
    for (const chunk of first!.chunks()) {
      for (let off = 0; off < chunk.length; off += this.width) if (rest.every((s) => s.has(chunk, off))) inAll.push(chunk.subarray(off, off + this.width));
    }
    this.finals.clear();
    this.aggregating();
    const t: Transit = { set: '*', inbound: null, pending: 0, buffered: [], ended: true, seq: 0, sent: 0, done: true };
    return [
      ...this.batchesTo(this.p, t, shufflePoints(Buffer.concat(inAll))),
      { to: this.p, msg: { type: 'ring-end', queryId: this.r.queryId, set: '*', stage: 'final', batches: t.seq, count: t.sent } },
    ];
  }

  // ---- aggregation among all members ----

  private aggregating(): void {
    this.phase = 'aggregating';
    this.release.start();
  }

  override aggregates(groups: readonly GroupAggregate[]): Step {
    // A violation or abort that arrived while DuckDB aggregated has ended the session: its failure stands.
    return this.unlessEnded(() => {
      if (this.phase !== 'aggregating' || this.r.self !== this.p) throw new CleanroomError('INTERNAL', 'aggregates outside the aggregating phase');
      return this.released(this.release.deal(groups));
    });
  }

  protected wipe(): void {
    this.phase = 'done';
    this.r.secret.zero();
    this.r.extra?.zero();
    this.transits.clear();
    this.finals.clear();
    this.release.end();
  }
}

