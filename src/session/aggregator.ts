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

type Phase = 'psi' | 'aggregating' | 'done';

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
  private readonly pqIn = new InboundStream('pq');
  private readonly qSet = new PointSet();
  /** Q batches handed out for blinding and not yet back: the set is complete only when none is. */
  private qPending = 0;
  /** Returned batches that arrived while Q's set was still being blinded. */
  private pqWaiting: Uint8Array[] = [];
  private readonly matched: number[] = [];
  private matchedCount = 0;
  /** Index of the next returned point in P's stream, in P's order. */
  private matchedOffset = 0;
  /** How many of P's padding points the returned points have passed: a stream index less these is a key index. */
  private paddingPassed = 0;

  /** Count-only DP: the partner's dummy matches (SPEC §10.3), which the dealt count leaves out on average. */
  private readonly dummies: DummyPlan | undefined;

  constructor(p: PairParams) {
    super(p, p.self);
    this.ownOut = new FullBatchStream('p', p.queryId, this.padsOwnSet);
    this.dummies = this.release.noise?.dummies;
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
    return toPeer(this.p, this.ownOut.append(blinded));
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
    return followedBy(toPeer(this.p, this.ownOut.finish()), this.afterPsi());
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
    if (this.qPending > 0) this.pqWaiting.push(msg.points);
    else this.match(msg.points);
    return NOTHING;
  }

  /**
   * Returned points are H(p)^ab and the set holds H(q)^ba: equal bytes exactly when the keys are equal. In P's order
   * the padding's positions are skipped, so a match is always one of P's keys; count-only returns them shuffled, and
   * a padding point matches nothing.
   */
  private match(batch: Uint8Array): void {
    const inOrder = this.p.plan.mode !== 'count-only';
    const padding = this.paddingPositions;
    for (let off = 0; off < batch.length; off += 32) {
      const position = this.matchedOffset + off / 32;
      if (inOrder && padding[this.paddingPassed] === position) {
        this.paddingPassed += 1;
        continue;
      }
      if (this.qSet.has(batch, off)) {
        if (inOrder) this.matched.push(position - this.paddingPassed);
        this.matchedCount += 1;
      }
    }
    this.matchedOffset += batch.length / 32;
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
    return this.ownOut.count + (this.dummies ? dummySlots(this.dummies) : 0);
  }

  private afterPsi(): Step {
    if (!(this.ownEnded && this.qIn.ended && this.qPending === 0 && this.pqIn.ended)) return NOTHING;
    this.p.secret.zero();
    this.qSet.clear();
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
    return { send: [], aggregate: this.matched };
  }

  private deal(groups: readonly GroupAggregate[]): Step {
    return this.released(this.release.deal(groups));
  }

  protected wipe(): void {
    this.p.secret.zero();
    this.phase = 'done';
    this.qSet.clear();
    this.release.end();
  }
}

