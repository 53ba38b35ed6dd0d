import type { SessionMessage } from '../../protocol/messages.js';
import { decodeRingElements, encodeRingElements, reconstruct, share } from '../crypto/shares.js';
import type { GroupAggregate, Label } from '../data/table-store.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { MAX_GROUPS, MAX_LABEL_CHARS } from '../limits.js';
import type { QueryPlan } from '../query/plan.js';
import { InboundStream, OutboundStream } from './point-stream.js';
import { KEYS, assembleResult, groupWidth, releasedColumns, survivingGroups } from './release.js';
import { Session, type SessionParams } from './session.js';
import { NOTHING, type Step } from './step.js';

export type { SessionParams } from './session.js';

type Phase = 'psi' | 'aggregating' | 'counts' | 'values' | 'done';

/**
 * P, the aggregating member (SPEC §Two-party flow). A pure state machine: events in (its own hashed keys,
 * peer messages, its local aggregates), messages out. It sends H(p)^a in its own order, raises Q's shuffled
 * H(q)^b to (H(q)^b)^a, and matches the returned H(p)^ab against them: it learns which of its keys are in the
 * intersection (aggregate mode) or only how many (count-only, where Q shuffles before returning).
 */
export class AggregatorSession extends Session {
  private phase: Phase = 'psi';
  private readonly ownOut: OutboundStream;
  private ownEnded = false;
  private readonly qIn = new InboundStream('q');
  private readonly pqIn = new InboundStream('pq');
  private readonly qSet = new Set<string>();
  private readonly matched: number[] = [];
  private matchedCount = 0;
  private labels: readonly (readonly Label[])[] = [];
  /** The distinct-key counts this node computed itself: Q's count shares must reconstruct exactly these. */
  private keyCounts: bigint[] = [];
  private mine: bigint[][] = [];
  private survivors: number[] = [];

  constructor(p: SessionParams) {
    super(p);
    this.ownOut = new OutboundStream('p', p.queryId);
  }

  /** A batch of this node's own H(p) values, in the order the driver keeps its keys. */
  ownPoints(hashed: Uint8Array): Step {
    return this.guard(() => {
      if (this.phase !== 'psi' || this.ownEnded) throw new CleanroomError('INTERNAL', 'own points after the end of the own key stream');
      return { send: this.ownOut.batches(this.p.group.blind(this.p.secret, hashed)) };
    });
  }

  ownEnd(): Step {
    return this.guard(() => {
      this.ownEnded = true;
      const next = this.afterPsi();
      return { ...next, send: [this.ownOut.end(), ...next.send] };
    });
  }

  /** The driver's answer to `aggregate`: per-group integers over the matched rows. */
  aggregates(groups: readonly GroupAggregate[]): Step {
    return this.guard(() => {
      if (this.phase !== 'aggregating') throw new CleanroomError('INTERNAL', 'aggregates outside the aggregating phase');
      return this.shareGroups(groups);
    });
  }

  protected handle(msg: Exclude<SessionMessage, { type: 'abort' }>): Step {
    switch (msg.type) {
      case 'points':
        return this.onPoints(msg.stage, msg);
      case 'points-end':
        return this.onPointsEnd(msg.stage, msg.batches, msg.count);
      case 'open':
        return this.onOpen(msg.stage, msg.values);
      default:
        throw new ProtocolViolation(`unexpected ${msg.type} in phase ${this.phase} of the aggregator`);
    }
  }

  private onPoints(stage: string, msg: Extract<SessionMessage, { type: 'points' }>): Step {
    if (this.phase !== 'psi') throw new ProtocolViolation(`points in phase ${this.phase}`);
    if (stage === 'q') {
      this.qIn.accept(msg);
      const blinded = this.p.group.blind(this.p.secret, msg.points);
      for (let off = 0; off < blinded.length; off += 32) this.qSet.add(latin1(blinded.subarray(off, off + 32)));
      return NOTHING;
    }
    if (stage !== 'pq') throw new ProtocolViolation(`the aggregator never receives stage ${stage}`);
    // H(p)^ab can only be compared once Q's whole set is in: Q sends its set before any returned point.
    if (!this.qIn.ended) throw new ProtocolViolation('returned points before the end of the partner\'s set');
    const first = this.pqIn.count;
    this.pqIn.accept(msg);
    if (this.pqIn.count > this.ownOut.count) throw new ProtocolViolation('more points returned than sent');
    // Returned points are H(p)^ab and the set holds H(q)^ba: equal bytes exactly when the keys are equal.
    for (let off = 0; off < msg.points.length; off += 32) {
      if (this.qSet.has(latin1(msg.points.subarray(off, off + 32)))) {
        this.matchedCount += 1;
        if (this.p.plan.mode === 'aggregate') this.matched.push(first + off / 32);
      }
    }
    return NOTHING;
  }

  private onPointsEnd(stage: string, batches: number, count: number): Step {
    if (this.phase !== 'psi') throw new ProtocolViolation(`points-end in phase ${this.phase}`);
    if (stage === 'q') this.qIn.end(batches, count);
    else if (stage === 'pq') {
      if (!this.ownEnded) throw new ProtocolViolation('returned stream ended before the own stream was complete');
      this.pqIn.end(batches, count);
      if (count !== this.ownOut.count) throw new ProtocolViolation(`${count} points returned for ${this.ownOut.count} sent`);
    } else throw new ProtocolViolation(`the aggregator never receives stage ${stage}`);
    return this.afterPsi();
  }

  private afterPsi(): Step {
    if (!(this.ownEnded && this.qIn.ended && this.pqIn.ended)) return NOTHING;
    this.p.secret.zero();
    this.qSet.clear();
    this.phase = 'aggregating';
    if (this.p.plan.mode === 'count-only') {
      const n = BigInt(this.matchedCount);
      return this.shareGroups([{ labels: [], values: [n, n] }]);
    }
    return { send: [], aggregate: this.matched };
  }

  private shareGroups(groups: readonly GroupAggregate[]): Step {
    const width = groupWidth(this.p.plan);
    if (groups.length > MAX_GROUPS) throw new CleanroomError('LIMIT_EXCEEDED', `the query yields ${groups.length} groups; at most ${MAX_GROUPS} are allowed`);
    // Checked before anything is shared, so that every receiver gets the same result or none does.
    const long = groups.find((g) => g.labels.some((l) => typeof l === 'string' && l.length > MAX_LABEL_CHARS));
    if (long) throw new CleanroomError('LIMIT_EXCEEDED', `a GROUP BY value is longer than ${MAX_LABEL_CHARS} characters; group by a shorter column`);
    // A query with no matched row still has its one (empty) group, so the shape of the exchange never depends on the data.
    const rows = groups.length > 0 ? groups : [{ labels: [], values: new Array<bigint>(width).fill(0n) }];
    this.labels = rows.map((g) => g.labels);
    this.keyCounts = rows.map((g) => g.values[KEYS]!);
    const theirs: bigint[] = [];
    this.mine = rows.map((g) => {
      if (g.values.length !== width) throw new CleanroomError('INTERNAL', `group vector of ${g.values.length} values, ${width} expected`);
      return g.values.map((v) => {
        const [a, b] = share(v, 2) as [bigint, bigint];
        theirs.push(b);
        return a;
      });
    });
    this.phase = 'counts';
    return {
      send: [
        { type: 'shares', queryId: this.p.queryId, groups: rows.length, width, values: encodeRingElements(theirs) },
        { type: 'open', queryId: this.p.queryId, stage: 'counts', values: encodeRingElements(this.mine.map((v) => v[KEYS]!)) },
      ],
    };
  }

  private onOpen(stage: 'counts' | 'values', bytes: Uint8Array): Step {
    const receivers = this.p.plan.receivers;
    if (stage === 'counts') {
      if (this.phase !== 'counts') throw new ProtocolViolation(`counts opened in phase ${this.phase}`);
      const theirs = decodeRingElements(bytes);
      if (theirs.length !== this.mine.length) throw new ProtocolViolation(`${theirs.length} count shares for ${this.mine.length} groups`);
      // P computed the counts itself: a partner whose shares reconstruct anything else is lying to get small groups opened.
      if (this.mine.some((v, g) => reconstruct([v[KEYS]!, theirs[g]!]) !== this.keyCounts[g])) {
        throw new ProtocolViolation('the partner\'s count shares do not reconstruct the counts that were shared');
      }
      this.survivors = survivingGroups(this.keyCounts, this.p.plan);
      const cols = releasedColumns(this.p.plan);
      const send: SessionMessage[] = [];
      if (receivers.includes(this.p.peer)) {
        const values = this.survivors.flatMap((g) => cols.map((c) => this.mine[g]![c]!));
        send.push({ type: 'open', queryId: this.p.queryId, stage: 'values', values: encodeRingElements(values) });
        send.push({ type: 'labels', queryId: this.p.queryId, labels: this.survivors.map((g) => [...this.labels[g]!]) });
      }
      if (receivers.includes(this.p.self)) {
        this.phase = 'values';
        return { send };
      }
      this.finish();
      return { send, outcome: { kind: 'released', groups: this.survivors.length, receivers } };
    }
    if (this.phase !== 'values') throw new ProtocolViolation(`values opened in phase ${this.phase}`);
    const cols = releasedColumns(this.p.plan);
    const theirs = decodeRingElements(bytes);
    if (theirs.length !== this.survivors.length * cols.length) throw new ProtocolViolation(`${theirs.length} value shares, ${this.survivors.length * cols.length} expected`);
    const opened = this.survivors.map((g, i) => cols.map((c, j) => reconstruct([this.mine[g]![c]!, theirs[i * cols.length + j]!])));
    const result = assembleResult(this.p.queryId, this.p.plan, this.survivors.map((g) => this.labels[g]!), opened);
    this.finish();
    return { send: [], outcome: { kind: 'result', result } };
  }

  protected override finish(): void {
    super.finish();
    this.phase = 'done';
    this.qSet.clear();
    this.mine = [];
  }
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}
