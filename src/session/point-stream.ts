import { WIRE_POINT_BYTES, type Points, type PointStage, type SessionMessage } from '../wire/messages.js';
import type { RandomSource } from '../dp/random-source.js';
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

  /** `max`: the most points the stream may hold (a returned stream in parts holds one copy per part, SPEC §4.6). */
  constructor(
    readonly stage: string,
    private readonly max: number = MAX_QUERY_KEYS,
  ) {}

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
    this.received += msg.points.length / WIRE_POINT_BYTES;
    if (this.received > this.max) throw new ProtocolViolation('over-limit', `stage ${this.stage}: more than ${this.max} points`);
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
    for (let off = 0; off < points.length; off += PSI_BATCH_KEYS * WIRE_POINT_BYTES) {
      const chunk = points.subarray(off, Math.min(points.length, off + PSI_BATCH_KEYS * WIRE_POINT_BYTES));
      out.push({ type: 'points', queryId: this.queryId, stage: this.stage, seq: this.seq++, points: chunk });
      this.sent += chunk.length / WIRE_POINT_BYTES;
    }
    return out;
  }

  end(): SessionMessage {
    return { type: 'points-end', queryId: this.queryId, stage: this.stage, batches: this.seq, count: this.sent };
  }
}

/**
 * An outbound stream whose batches are all full but the last: a padded key set (SPEC §10.2) must not show in its batch
 * sizes where its real keys end. Points are held back only until a batch is full, and the order is kept: the
 * receiver's indices still count from the first point.
 */
export class FullBatchStream {
  private readonly out: OutboundStream;
  private held = new Uint8Array(0);

  /** `hold` false sends every batch as it comes: an unpadded set's size is no secret from its peer. */
  constructor(
    stage: PointStage,
    queryId: string,
    private readonly hold: boolean,
  ) {
    this.out = new OutboundStream(stage, queryId);
  }

  get count(): number {
    return this.out.count + this.held.length / WIRE_POINT_BYTES;
  }

  append(points: Uint8Array): SessionMessage[] {
    if (!this.hold) return this.out.batches(points);
    const all = this.held.length > 0 ? Buffer.concat([this.held, points]) : points;
    const whole = all.length - (all.length % (PSI_BATCH_KEYS * WIRE_POINT_BYTES));
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

/** One multiplication request of a padded own set: a batch of the stream. */
export interface PaddedBatch {
  /** H(k) of the keys it carries, in the order of the key stream. */
  readonly points: Uint8Array;
  /** Ascending indices in the batch of its padding points, which the worker makes (`BlindRequest.padding`). */
  readonly padding: Uint32Array;
  /**
   * The partner's streamed set (SPEC §10.3): which of the `padding` slots are its dummy slots, ascending, which it
   * overwrites with its dummy points once the batch is back. The worker makes a padding point there all the same: a
   * batch costs one multiplication a point whatever its mix, so its time never tells how many dummies it holds.
   */
  readonly dummies?: Uint32Array;
}

/**
 * SPEC §10.2: the own key set of a side that pads it, cut into the batches of its point stream (PSI_BATCH_KEYS points
 * each but the last) with its `padding` points dealt among the keys from the first batch on. Each batch is one
 * request to the worker pool, one multiplication per point whether key or padding, so the stream's timing follows its
 * padded size, never where its keys end.
 *
 * The number of keys is unknown until the key stream ends, so the padding cannot be spread evenly over it. Instead,
 * when a batch begins, every padding point not yet dealt joins it with probability 1/2 (at most a batch of them),
 * at slots drawn uniformly; when the keys end, what is left goes among the keys not yet sent, every arrangement
 * equally likely. The draws come from the session's random source and look at nothing but the padding count, so where
 * the padding begins (the first batch, except with probability 2^-E) and how the batches before the keys run out are
 * made do not depend on the real size.
 */
export class PaddedStream {
  private held: Uint8Array = new Uint8Array(0);
  /** Padding points not yet in a batch. */
  private left: number;
  /** Where the padding of the batch being filled goes, drawn when it begins. */
  private slots: Uint32Array | undefined;
  /** The index in the stream of the next batch's first point. */
  private next = 0;
  /** The index in the stream of every padding point so far, ascending: the aggregator skips them among its matches. */
  readonly positions: number[] = [];

  constructor(
    padding: number,
    private readonly random: RandomSource,
  ) {
    this.left = padding;
  }

  /** Own H(k) in; every batch they complete out. */
  add(hashed: Uint8Array): PaddedBatch[] {
    this.held = this.held.length === 0 ? hashed : concat(this.held, hashed);
    const out: PaddedBatch[] = [];
    for (;;) {
      this.slots ??= this.draw();
      const keys = PSI_BATCH_KEYS - this.slots.length;
      if (this.held.length < keys * WIRE_POINT_BYTES) return out;
      out.push(this.batch(keys, this.slots));
      this.slots = undefined;
    }
  }

  /** The end of the key stream: the keys held and the padding left, in batches. */
  finish(): PaddedBatch[] {
    const keys = this.held.length / WIRE_POINT_BYTES;
    const total = keys + this.left;
    const slots = randomSubset(total, this.left, this.random);
    this.slots = undefined;
    const out: PaddedBatch[] = [];
    let used = 0;
    for (let start = 0; start < total; start += PSI_BATCH_KEYS) {
      const end = Math.min(total, start + PSI_BATCH_KEYS);
      const from = used;
      while (used < slots.length && slots[used]! < end) used += 1;
      const padding = slots.subarray(from, used).map((s) => s - start);
      out.push(this.batch(end - start - padding.length, padding));
    }
    return out;
  }

  /** The slots of a new batch: each padding point left joins it with probability 1/2, at most a batch of them. */
  private draw(): Uint32Array {
    return randomSubset(PSI_BATCH_KEYS, Math.min(heads(this.left, this.random), PSI_BATCH_KEYS), this.random);
  }

  private batch(keys: number, padding: Uint32Array): PaddedBatch {
    const points = this.held.subarray(0, keys * WIRE_POINT_BYTES);
    this.held = this.held.subarray(keys * WIRE_POINT_BYTES);
    for (const slot of padding) this.positions.push(this.next + slot);
    this.next += keys + padding.length;
    this.left -= padding.length;
    return { points, padding };
  }
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** How many of n fair coins come up heads. */
function heads(n: number, random: RandomSource): number {
  let count = 0;
  for (let flipped = 0; flipped < n; flipped += 32) {
    for (let word = random.below(1n << BigInt(Math.min(32, n - flipped))); word > 0n; word >>= 1n) count += Number(word & 1n);
  }
  return count;
}

/** m distinct integers of [0, n), every subset equally likely (Floyd's algorithm), ascending. */
export function randomSubset(n: number, m: number, random: RandomSource): Uint32Array {
  const chosen = new Set<number>();
  for (let j = n - m; j < n; j++) {
    const t = Number(random.below(BigInt(j + 1)));
    chosen.add(chosen.has(t) ? j : t);
  }
  return Uint32Array.from(chosen).sort();
}
