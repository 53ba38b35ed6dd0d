import { WIRE_POINT_BYTES } from '../wire/messages.js';
import type { RandomSource } from '../dp/random-source.js';
import { CleanroomError } from '../errors.js';
import { PSI_BATCH_KEYS } from '../limits.js';
import { concat, randomSubset, type PaddedBatch } from './point-stream.js';

/**
 * SPEC §4.2 step 1, §10.2, §10.3: the partner's own set as it streams out, which it need not hold whole. Its keys come
 * in their salted order (SHA-256 of a fresh per-query salt Q keeps, and the key: a pseudorandom order), and its
 * `padding` points and `dummies` slots take positions drawn uniformly among all its points before the first batch,
 * every arrangement equally likely: what leaves is a uniformly shuffled set, as a Fisher–Yates shuffle of the whole
 * set would make it. That needs the number of keys before the first batch (counted first). Cut into batches of
 * PSI_BATCH_KEYS positions but the last, each one request to the worker pool, the dummy slots made as padding there
 * and overwritten by the partner.
 */
export class ArrangedStream {
  private held: Uint8Array = new Uint8Array(0);
  /** Ascending positions in the stream of every padding point and dummy slot. */
  private readonly fillers: Uint32Array;
  /** For each of `fillers`, whether it is a dummy slot (else a padding point). */
  private readonly dummy: Uint8Array;
  private readonly total: number;
  /** The position of the next batch's first point, and the first of `fillers` at or after it. */
  private next = 0;
  private nextFiller = 0;
  private keysIn = 0;

  constructor(
    private readonly keys: number,
    padding: number,
    dummies: number,
    random: RandomSource,
  ) {
    for (const [name, n] of [['keys', keys], ['padding', padding], ['dummies', dummies]] as const) {
      if (!(Number.isSafeInteger(n) && n >= 0)) throw new RangeError(`ArrangedStream: ${name} must be a non-negative integer, got ${n}`);
    }
    this.total = keys + padding + dummies;
    this.fillers = randomSubset(this.total, padding + dummies, random);
    this.dummy = new Uint8Array(padding + dummies);
    for (const i of randomSubset(padding + dummies, dummies, random)) this.dummy[i] = 1;
  }

  /** Own H(k) in, in the key stream's order; every batch they complete out. */
  add(hashed: Uint8Array): PaddedBatch[] {
    this.keysIn += hashed.length / WIRE_POINT_BYTES;
    if (this.keysIn > this.keys) throw new CleanroomError('INTERNAL', `the key stream brought more than the ${this.keys} keys counted before it`);
    this.held = this.held.length === 0 ? hashed : concat(this.held, hashed);
    return this.cut();
  }

  /** The end of the key stream: the batches left. */
  finish(): PaddedBatch[] {
    if (this.keysIn !== this.keys) throw new CleanroomError('INTERNAL', `the key stream brought ${this.keysIn} keys where ${this.keys} were counted before it`);
    const last = this.cut();
    // Every key came, so every position is cut, unless a held buffer was taken away (a batch handed to a worker twice).
    if (this.next !== this.total || this.held.length > 0) throw new CleanroomError('INTERNAL', `the own stream ended at position ${this.next} of ${this.total}`);
    return last;
  }

  /** Every batch whose keys are all held. */
  private cut(): PaddedBatch[] {
    const out: PaddedBatch[] = [];
    while (this.next < this.total) {
      const end = Math.min(this.total, this.next + PSI_BATCH_KEYS);
      let last = this.nextFiller;
      while (last < this.fillers.length && this.fillers[last]! < end) last += 1;
      const keys = end - this.next - (last - this.nextFiller);
      if (this.held.length < keys * WIRE_POINT_BYTES) break;
      const padding: number[] = [];
      const dummies: number[] = [];
      for (let f = this.nextFiller; f < last; f++) {
        padding.push(this.fillers[f]! - this.next);
        if (this.dummy[f]) dummies.push(this.fillers[f]! - this.next);
      }
      out.push({ points: this.held.subarray(0, keys * WIRE_POINT_BYTES), padding: Uint32Array.from(padding), dummies: Uint32Array.from(dummies) });
      this.held = this.held.subarray(keys * WIRE_POINT_BYTES);
      this.next = end;
      this.nextFiller = last;
    }
    return out;
  }
}
