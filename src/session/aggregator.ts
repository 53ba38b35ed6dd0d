import type { GroupAggregate } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { InboundStream, OutboundStream } from './point-stream.js';
import { PointSet } from './point-set.js';
import { Release } from './release.js';
import { Session, type SessionParams, pairRelease } from './session.js';
import { NOTHING, type Step } from './step.js';

export type { SessionParams } from './session.js';

type Phase = 'psi' | 'aggregating' | 'done';

/**
 * P, the aggregating member (SPEC §4). A pure state machine: events in (its own blinded keys, peer messages,
 * completed blindings, its local aggregates), messages and work requests out. It sends H(p)^a in its own order,
 * has Q's shuffled H(q)^b raised to (H(q)^b)^a, and matches the returned H(p)^ab against them: it learns which of
 * its keys are in the intersection (aggregate mode) or only how many (count-only, where Q shuffles before
 * returning). Multiplications are requested from the driver (`blind`), which runs them on a worker pool and
 * hands the results back in request order (`peerBlinded`).
 */
export class AggregatorSession extends Session {
  private phase: Phase = 'psi';
  private readonly ownOut: OutboundStream;
  private ownEnded = false;
  private readonly qIn = new InboundStream('q');
  private readonly pqIn = new InboundStream('pq');
  private readonly qSet = new PointSet();
  /** Q batches handed out for blinding and not yet back: the set is complete only when none is. */
  private qPending = 0;
  /** Returned batches that arrived while Q's set was still being blinded. */
  private pqWaiting: Uint8Array[] = [];
  private readonly matched: number[] = [];
  private matchedCount = 0;
  /** Index of the next returned point among P's own, in P's order. */
  private matchedOffset = 0;
  private readonly release: Release;

  constructor(p: SessionParams) {
    super(p);
    this.release = pairRelease(p, p.self);
    this.ownOut = new OutboundStream('p', p.queryId);
  }

  /** A batch of this node's own H(p)^a, in the order the driver keeps its keys. */
  ownPoints(blinded: Uint8Array): Step {
    // Own batches still in flight when the session already ended (a peer's abort) are moot.
    if (this.ended) return NOTHING;
    return this.guard(() => {
      if (this.phase !== 'psi' || this.ownEnded) throw new CleanroomError('INTERNAL', 'own points after the end of the own key stream');
      return { send: this.ownOut.batches(blinded) };
    });
  }

  /** A blinding requested by `blind`, in request order: (H(q)^b)^a for one batch of Q's set. */
  peerBlinded(blinded: Uint8Array): Step {
    if (this.ended) return NOTHING;
    return this.guard(() => {
      if (this.phase !== 'psi' || this.qPending === 0) throw new CleanroomError('INTERNAL', 'a blinded batch nobody asked for');
      this.qSet.addAll(blinded);
      this.qPending -= 1;
      if (this.qIn.ended && this.qPending === 0) {
        for (const batch of this.pqWaiting) this.match(batch);
        this.pqWaiting = [];
      }
      return this.afterPsi();
    });
  }

  ownEnd(): Step {
    if (this.ended) return NOTHING;
    return this.guard(() => {
      this.ownEnded = true;
      const next = this.afterPsi();
      return { ...next, send: [this.ownOut.end(), ...next.send] };
    });
  }

  /** The driver's answer to `aggregate`: per-group integers over the matched rows. */
  aggregates(groups: readonly GroupAggregate[]): Step {
    // A violation or abort that arrived while DuckDB aggregated has ended the session: its failure stands.
    if (this.ended) return NOTHING;
    return this.guard(() => {
      if (this.phase !== 'aggregating') throw new CleanroomError('INTERNAL', 'aggregates outside the aggregating phase');
      return this.deal(groups);
    });
  }

  protected handle(msg: Exclude<SessionMessage, { type: 'abort' }>): Step {
    switch (msg.type) {
      case 'points':
        return this.onPoints(msg.stage, msg);
      case 'points-end':
        return this.onPointsEnd(msg.stage, msg.batches, msg.count);
      case 'shares':
      case 'open':
      case 'labels':
        return this.released((this.release.receive(this.p.peer, msg)));
      default:
        throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in phase ${this.phase} of the aggregator`);
    }
  }

  private onPoints(stage: string, msg: Extract<SessionMessage, { type: 'points' }>): Step {
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `points in phase ${this.phase}`);
    if (stage === 'q') {
      this.qIn.accept(msg);
      this.qPending += 1;
      return { send: [], blind: [msg.points] };
    }
    if (stage !== 'pq') throw new ProtocolViolation('unexpected-message', `the aggregator never receives stage ${stage}`);
    // H(p)^ab can only be compared once Q's whole set is in. SPEC §4.2: the `pq` stream may not start before the
    // `q` stream ended and never holds more points than P sent.
    if (!this.qIn.ended) throw new ProtocolViolation('wrong-round', 'returned points before the end of the partner\'s set');
    this.pqIn.accept(msg);
    if (this.pqIn.count > this.ownOut.count) throw new ProtocolViolation('bad-count', 'more points returned than sent');
    if (this.qPending > 0) this.pqWaiting.push(msg.points);
    else this.match(msg.points);
    return NOTHING;
  }

  /** Returned points are H(p)^ab and the set holds H(q)^ba: equal bytes exactly when the keys are equal. */
  private match(batch: Uint8Array): void {
    for (let off = 0; off < batch.length; off += 32) {
      if (this.qSet.has(batch, off)) {
        if (this.p.plan.mode !== 'count-only') this.matched.push(this.matchedOffset + off / 32);
        this.matchedCount += 1;
      }
    }
    this.matchedOffset += batch.length / 32;
  }

  private onPointsEnd(stage: string, batches: number, count: number): Step {
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `points-end in phase ${this.phase}`);
    if (stage === 'q') this.qIn.end(batches, count);
    else if (stage === 'pq') {
      if (!this.ownEnded) throw new ProtocolViolation('wrong-round', 'returned stream ended before the own stream was complete');
      this.pqIn.end(batches, count);
      if (count !== this.ownOut.count) throw new ProtocolViolation('bad-count', `${count} points returned for ${this.ownOut.count} sent`);
    } else throw new ProtocolViolation('unexpected-message', `the aggregator never receives stage ${stage}`);
    return this.afterPsi();
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
      const n = BigInt(this.matchedCount);
      return this.deal([{ labels: [], values: [n, n] }]);
    }
    return { send: [], aggregate: this.matched };
  }

  private deal(groups: readonly GroupAggregate[]): Step {
    return this.released((this.release.deal(groups)));
  }

  protected override finish(): void {
    super.finish();
    this.phase = 'done';
    this.qSet.clear();
    this.release.end();
  }
}

