import type { Points, PointStage, SessionMessage } from '../wire/messages.js';
import { ProtocolViolation } from '../errors.js';
import { MAX_QUERY_KEYS, PSI_BATCH_KEYS } from '../limits.js';

/**
 * Bookkeeping for one inbound point stream: batches must come numbered 0, 1, 2... and the end marker
 * must agree with what arrived. A gap, a replayed or duplicated batch, or anything after the end is refused.
 */
export class InboundStream {
  private nextSeq = 0;
  private received = 0;
  ended = false;

  constructor(readonly stage: string) {}

  get count(): number {
    return this.received;
  }

  accept(msg: Pick<Points, 'seq' | 'points'>): void {
    if (this.ended) throw new ProtocolViolation('after-end', `points of stage ${this.stage} after its end`);
    // SPEC §4.2: batches of a stage are numbered 0, 1, 2…
    if (msg.seq !== this.nextSeq) {
      throw new ProtocolViolation(msg.seq < this.nextSeq ? 'replayed-batch' : 'skipped-batch', `stage ${this.stage}: batch ${msg.seq} where ${this.nextSeq} was due`);
    }
    this.nextSeq += 1;
    this.received += msg.points.length / 32;
    if (this.received > MAX_QUERY_KEYS) throw new ProtocolViolation('over-limit', `stage ${this.stage}: more than ${MAX_QUERY_KEYS} points`);
  }

  end(batches: number, count: number): void {
    if (this.ended) throw new ProtocolViolation('repeated-message', `stage ${this.stage} ended twice`);
    // SPEC §4.2: the end marker must agree with the batches and points received.
    if (batches !== this.nextSeq || count !== this.received) {
      throw new ProtocolViolation('bad-count', `stage ${this.stage} ended claiming ${batches} batches / ${count} points, but ${this.nextSeq} / ${this.received} arrived`);
    }
    this.ended = true;
  }
}

/** Numbers outbound batches of one stage and writes its end marker. */
export class OutboundStream {
  private seq = 0;
  private sent = 0;

  constructor(
    readonly stage: PointStage,
    private readonly queryId: string,
  ) {}

  get count(): number {
    return this.sent;
  }

  /** Splits `points` into protocol batches. */
  batches(points: Uint8Array): SessionMessage[] {
    const out: SessionMessage[] = [];
    for (let off = 0; off < points.length; off += PSI_BATCH_KEYS * 32) {
      const chunk = points.subarray(off, Math.min(points.length, off + PSI_BATCH_KEYS * 32));
      out.push({ type: 'points', queryId: this.queryId, stage: this.stage, seq: this.seq++, points: chunk });
      this.sent += chunk.length / 32;
    }
    return out;
  }

  end(): SessionMessage {
    return { type: 'points-end', queryId: this.queryId, stage: this.stage, batches: this.seq, count: this.sent };
  }
}

/**
 * An outbound stream whose batches are all full but the last: a stream that carries one set after another (real
 * keys, then padding, SPEC §10.2) must not show in its batch sizes where the first set ended. Points are held back
 * only until a batch is full, and the order is kept: the receiver's indices still count from the first point.
 */
export class FullBatchStream {
  private readonly out: OutboundStream;
  private held = new Uint8Array(0);

  /** `hold` false sends every batch as it comes: a stream with nothing after its real points has nothing to hide by it. */
  constructor(
    stage: PointStage,
    queryId: string,
    private readonly hold: boolean,
  ) {
    this.out = new OutboundStream(stage, queryId);
  }

  get count(): number {
    return this.out.count + this.held.length / 32;
  }

  append(points: Uint8Array): SessionMessage[] {
    if (!this.hold) return this.out.batches(points);
    const all = this.held.length > 0 ? Buffer.concat([this.held, points]) : points;
    const whole = all.length - (all.length % (PSI_BATCH_KEYS * 32));
    this.held = Uint8Array.from(all.subarray(whole));
    return this.out.batches(all.subarray(0, whole));
  }

  /** The last, possibly short, batch and the end marker. */
  finish(): SessionMessage[] {
    const last = this.out.batches(this.held);
    this.held = new Uint8Array(0);
    return [...last, this.out.end()];
  }
}
