import { countOnlyVector } from '../query/group-vector.js';
import type { GroupAggregate } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { FullBatchStream, InboundStream } from './point-stream.js';
import { PointSet } from './point-set.js';
import { PairSession, type PairParams, toPeer } from './pair.js';
import { NOTHING, followedBy, type Envelope, type Step } from './step.js';
import type { DummyPlan } from '../query/noise.js';
import { dummyBase, dummySlots } from './dummy-matches.js';
import { MAX_QUERY_KEYS } from '../limits.js';
import { edwardsFor } from '../crypto/edwards.js';
import { reblindContext } from '../crypto/verified-reblind.js';

type Phase = 'psi' | 'aggregating' | 'done';

/**
 * The aggregator keeps the first 16 bytes of each of Q's raised points (SPEC §4.2 step 4): half the memory at 10M keys
 * (160 MB). Two different points agree there with probability 2^-128 (blinded points are uniform, and Q cannot aim
 * at values raised to P's secret), so among the at most 2^26 points of Q's set and 2^26 returned per part a false
 * match has probability below 2^-76 per part.
 */
const MATCH_BYTES = 16;

/**
 * P, the aggregating member (SPEC §4). A pure state machine: events in (its own blinded keys, peer messages,
 * completed blindings, its local aggregates), messages and work requests out. It sends H(p)^a in its own order,
 * has Q's shuffled H(q)^b raised to (H(q)^b)^a, and matches the returned H(p)^ab against them: it learns which of
 * its keys are in the intersection (aggregate mode) or only how many (count-only, where Q shuffles before
 * returning). Multiplications are requested from the driver (`blind`), which runs them on a worker pool and
 * hands the results back in request order (`blinded`): its own batches (H(p)^a) and Q's (H(q)^ba) in one queue.
 */
export class AggregatorSession extends PairSession {
  private phase: Phase = 'psi';
  private readonly ownOut: FullBatchStream;
  private readonly qIn = new InboundStream('q');
  private readonly pqIn: InboundStream;
  private readonly qSet: PointSet;
  /** Q batches handed out for blinding and not yet back: the set is complete only when none is. */
  private qPending = 0;
  /** Returned batches that arrived while Q's set was still being blinded. */
  private pqWaiting: Uint8Array[] = [];
  private readonly matched: number[] = [];
  /** SPEC §4.6: the part of the partner's set each of `matched` was found in, when the set comes in parts. */
  private readonly matchedParts: number[] = [];
  private matchedCount = 0;
  /** The partner's parts (SPEC §4.6): each of this member's batches comes back once per part, in part order. */
  private readonly parts: number;
  private readonly byPart: boolean;
  /** Where each own batch sent starts in this member's stream, and its size: a returned batch answers one of them. */
  private readonly sentStarts: number[] = [];
  private readonly sentSizes: number[] = [];
  /** Returned batches matched so far, in order. */
  private returnedBatches = 0;

  /** Count-only DP: the partner's dummy matches (SPEC §10.3), which the dealt count leaves out on average. */
  private readonly dummies: DummyPlan | undefined;

  /** SPEC §4.2.1: the partner proves every returned batch, and each is checked before it is matched. */
  private readonly verified: { readonly collaborationId: string } | undefined;
  /** The partner's B for each part, once its `reblind-key` is in. */
  private keys: readonly Uint8Array[] | undefined;
  /** Verified: each own batch as sent, which the proof of the batches returned for it speaks of. */
  private sentPoints: Uint8Array[] = [];
  /** Returned batches handed out for checking and not yet back. */
  private checksPending = 0;

  constructor(p: PairParams) {
    super(p, p.self);
    this.qSet = new PointSet(p.group.pointBytes, MATCH_BYTES);
    this.ownOut = new FullBatchStream('p', p.queryId, this.padsOwnSet);
    this.dummies = this.release.noise?.dummies;
    const groups = p.plan.mode === 'aggregate' ? p.plan.partnerGroups : undefined;
    this.parts = groups?.labels.length ?? 1;
    this.byPart = groups !== undefined;
    // Its own set is at most MAX_QUERY_KEYS points, returned once per part: the exact count is checked at the end.
    this.pqIn = new InboundStream('pq', MAX_QUERY_KEYS * this.parts);
    this.verified = p.plan.mode === 'aggregate' ? p.plan.verified : undefined;
  }

  /** Count-only DP: A = X25519(a, 9) goes first, so that the partner has it before the end of this member's set. */
  override start(): Step {
    return this.unlessEnded(() => {
      if (!this.dummies) return NOTHING;
      return { send: toPeer(this.p, [{ type: 'dummy-base', queryId: this.p.queryId, point: dummyBase(this.p.group, this.p.secret) }]) };
    });
  }

  /**
   * H(p)^a goes out in the order the driver keeps its keys, any padding among them: the matches are indices into the
   * keys once the padding is skipped.
   */
  protected ownBatchBlinded(blinded: Uint8Array): Envelope[] {
    return toPeer(this.p, this.sent(this.ownOut.append(blinded)));
  }

  /** Notes where each own batch starts and how many points it holds, as it goes out. */
  private sent(msgs: SessionMessage[]): SessionMessage[] {
    for (const m of msgs) {
      if (m.type !== 'points') continue;
      this.sentStarts.push((this.sentStarts.at(-1) ?? 0) + (this.sentSizes.at(-1) ?? 0));
      this.sentSizes.push(m.points.length / this.p.group.pointBytes);
      if (this.verified) this.sentPoints.push(m.points);
    }
    return msgs;
  }

  /** (H(q)^b)^a for one batch of Q's set. */
  protected peerBatchBlinded(blinded: Uint8Array): Step {
    this.qSet.addAll(blinded);
    this.qPending -= 1;
    if (this.qIn.ended && this.qPending === 0) {
      for (const batch of this.pqWaiting) this.match(batch);
      this.pqWaiting = [];
    }
    return this.afterPsi();
  }

  /** The last batch (its padding went out among the keys, SPEC §10.2) and the end marker. */
  protected ownComplete(): Step {
    return followedBy(toPeer(this.p, this.sent(this.ownOut.finish())), this.afterPsi());
  }

  /** The driver's answer to `aggregate`: per-group integers over the matched rows. */
  override aggregates(groups: readonly GroupAggregate[]): Step {
    // A violation or abort that arrived while DuckDB aggregated has ended the session: its failure stands.
    return this.unlessEnded(() => {
      if (this.phase !== 'aggregating') throw new CleanroomError('INTERNAL', 'aggregates outside the aggregating phase');
      return this.deal(groups);
    });
  }

  protected where(): string {
    return `phase ${this.phase} of the aggregator`;
  }

  protected onPoints(msg: Extract<SessionMessage, { type: 'points' }>): Step {
    const { stage } = msg;
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `points in phase ${this.phase}`);
    if (msg.proof && (stage !== 'pq' || !this.verified)) throw new ProtocolViolation('unexpected-message', `a proof with points of stage ${stage}${this.verified ? '' : ' in a query without verify'}`);
    if (stage === 'q') {
      this.qIn.accept(msg);
      this.qPending += 1;
      return this.blindPeerBatch(msg.points);
    }
    if (stage !== 'pq') throw new ProtocolViolation('unexpected-message', `the aggregator never receives stage ${stage}`);
    // H(p)^ab can only be compared once Q's whole set is in. SPEC §4.2: the `pq` stream may not start before the
    // `q` stream ended and never holds more points than P sent.
    if (!this.qIn.ended) throw new ProtocolViolation('wrong-round', 'returned points before the end of the partner\'s set');
    this.pqIn.accept(msg);
    if (this.pqIn.count > this.returned) throw new ProtocolViolation('bad-count', 'more points returned than sent');
    if (this.verified) return this.check(msg);
    if (this.qPending > 0) this.pqWaiting.push(msg.points);
    else this.match(msg.points);
    return NOTHING;
  }

  /**
   * SPEC §4.2.1: the partner's B for each of its secrets, before its first returned point, once; each must be an
   * element of the prime-order subgroup (a B outside it would let a returned point carry a small-order component).
   */
  protected override onReblindKey(msg: Extract<SessionMessage, { type: 'reblind-key' }>): Step {
    if (!this.verified) throw new ProtocolViolation('unexpected-message', `unexpected reblind-key in ${this.where()}: this query is not verified`);
    if (this.keys) throw new ProtocolViolation('repeated-message', 'the partner\'s keys came twice');
    if (this.pqIn.count > 0) throw new ProtocolViolation('wrong-round', 'the partner\'s keys after its returned points');
    if (msg.keys.length !== this.parts) throw new ProtocolViolation('bad-count', `${msg.keys.length} keys for ${this.parts} parts`);
    const g = edwardsFor(this.p.group.name);
    msg.keys.forEach((k, i) => {
      if (!g.isValid(k)) throw new ProtocolViolation('invalid-point', `the partner's key ${i} is not an element of the prime-order subgroup of edwards25519`);
    });
    this.keys = msg.keys;
    return NOTHING;
  }

  /**
   * SPEC §4.2.1: a returned batch goes to be checked against the own batch it answers, under the key of its part and
   * in the context of its number; only what passes is matched (`returnedBatchChecked`).
   */
  private check(msg: Extract<SessionMessage, { type: 'points' }>): Step {
    if (!this.keys) throw new ProtocolViolation('wrong-round', 'returned points before the partner\'s keys');
    if (!msg.proof) throw new ProtocolViolation('bad-proof', `returned batch ${msg.seq} carries no proof`);
    const sent = this.sentPoints[Math.floor(msg.seq / this.parts)];
    if (!sent) throw new ProtocolViolation('bad-count', `returned batch ${msg.seq} answers none of the ${this.sentPoints.length} batches sent`);
    const part = msg.seq % this.parts;
    this.checksPending += 1;
    const context = reblindContext(this.verified!.collaborationId, this.p.queryId, part, msg.seq);
    return this.checkReturnedBatch({ sent, returned: msg.points, proof: msg.proof, key: this.keys[part]!, context });
  }

  /** The u-coordinates of a returned batch whose proof verified: matched as an unverified batch is. */
  protected override returnedBatchChecked(checked: Uint8Array): Step {
    this.checksPending -= 1;
    if (this.qPending > 0) this.pqWaiting.push(checked);
    else this.match(checked);
    return this.afterPsi();
  }

  /**
   * Returned points are H(p)^ab and the set holds H(q)^ba: equal bytes exactly when the keys are equal (the first
   * MATCH_BYTES of them, but for a chance below 2^-76). Count-only
   * returns them shuffled, and a padding point matches nothing; otherwise `matchInOrder`.
   */
  private match(batch: Uint8Array): void {
    if (this.p.plan.mode !== 'count-only') return this.matchInOrder(batch);
    for (let off = 0; off < batch.length; off += this.p.group.pointBytes) if (this.qSet.has(batch, off)) this.matchedCount += 1;
  }

  /**
   * In P's order, batch by batch: returned batch k answers own batch ⌊k / parts⌋ raised to part k mod parts's secret
   * (SPEC §4.2, §4.6), and holds as many points. The padding's positions are skipped, so a match is always one of P's
   * keys, at its index among them. The parts' secrets differ, so a point matches only within its own part.
   */
  private matchInOrder(batch: Uint8Array): void {
    const k = this.returnedBatches++;
    const sent = Math.floor(k / this.parts);
    const part = k % this.parts;
    const start = this.sentStarts[sent];
    const width = this.p.group.pointBytes;
    const size = batch.length / width;
    if (start === undefined) throw new ProtocolViolation('bad-count', `returned batch ${k} answers none of the ${this.sentSizes.length} batches sent`);
    if (size !== this.sentSizes[sent]) throw new ProtocolViolation('bad-count', `returned batch ${k} holds ${size} points for a batch of ${this.sentSizes[sent]}`);
    const padding = this.paddingPositions;
    let skipped = paddingBefore(padding, start);
    for (let j = 0; j < size; j++) {
      const position = start + j;
      if (padding[skipped] === position) {
        skipped += 1;
        continue;
      }
      if (!this.qSet.has(batch, j * width)) continue;
      this.matched.push(position - skipped);
      if (this.byPart) this.matchedParts.push(part);
      this.matchedCount += 1;
    }
  }

  protected onPointsEnd({ stage, batches, count }: Extract<SessionMessage, { type: 'points-end' }>): Step {
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `points-end in phase ${this.phase}`);
    if (stage === 'q') {
      this.qIn.end(batches, count);
      this.assertPeerSetSize(count);
    }
    else if (stage === 'pq') {
      if (!this.ownEnded) throw new ProtocolViolation('wrong-round', 'returned stream ended before the own stream was complete');
      this.pqIn.end(batches, count);
      if (count !== this.returned) throw new ProtocolViolation('bad-count', `${count} points returned for ${this.ownOut.count} sent (${this.returned} expected)`);
    } else throw new ProtocolViolation('unexpected-message', `the aggregator never receives stage ${stage}`);
    return this.afterPsi();
  }

  /** The points the partner returns: each of this member's, and in a count-only DP query its dummy slots. */
  private get returned(): number {
    return this.ownOut.count * this.parts + (this.dummies ? dummySlots(this.dummies) : 0);
  }

  private afterPsi(): Step {
    if (!(this.ownEnded && this.qIn.ended && this.qPending === 0 && this.pqIn.ended && this.checksPending === 0)) return NOTHING;
    this.p.secret.zero();
    this.qSet.clear();
    this.sentPoints = [];
    this.phase = 'aggregating';
    this.release.start();
    if (this.p.plan.mode === 'federated') {
      // One holder's PSI with the joined table: the holders aggregate and share among themselves (SPEC §4.5).
      const matched = this.matched;
      this.finish();
      return { send: [], outcome: { kind: 'matched', matched } };
    }
    if (this.p.plan.mode === 'count-only') {
      // The dummies' shift comes off what is dealt; their spread around it is the noise this member cannot remove.
      const n = BigInt(this.matchedCount) - (this.dummies?.shift ?? 0n);
      return this.deal([{ labels: [], values: countOnlyVector(n) }]);
    }
    return { send: [], aggregate: this.matched, ...(this.byPart ? { parts: this.matchedParts } : {}) };
  }

  private deal(groups: readonly GroupAggregate[]): Step {
    return this.released(this.release.deal(groups));
  }

  protected wipe(): void {
    this.p.secret.zero();
    this.phase = 'done';
    this.qSet.clear();
    this.sentPoints = [];
    this.release.end();
  }
}

/** How many of the ascending `positions` lie before `start`. */
function paddingBefore(positions: readonly number[], start: number): number {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (positions[mid]! < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
