import { describe, expect, it } from 'vitest';
import { osRandom, seededRandom } from '../../src/dp/random-source.js';
import { PSI_BATCH_KEYS } from '../../src/limits.js';
import { PaddedStream, type PaddedBatch } from '../../src/session/point-stream.js';

/**
 * The batches of a padded own set (SPEC §10.2), as src/session/pair.ts asks the pool for them. Keys are numbered
 * points (their index in the first four bytes), so the test can follow every key into the stream.
 */

/** `n` keys as 32-byte points, key i holding i + 1 in its first four bytes (0 marks a padding slot below). */
function keys(from: number, n: number): Uint8Array {
  const out = new Uint8Array(n * 32);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) view.setUint32(i * 32, from + i + 1, true);
  return out;
}

/** The stream a run of batches makes: each key's number, 0 where a padding point goes. */
function stream(batches: readonly PaddedBatch[]): number[] {
  return batches.flatMap(({ points, padding }) => {
    const view = new DataView(points.buffer, points.byteOffset, points.byteLength);
    const out: number[] = [];
    let key = 0;
    for (let i = 0; i < points.length / 32 + padding.length; i++) out.push(padding.includes(i) ? 0 : view.getUint32(32 * key++, true));
    return [out];
  }).flat();
}

/** The whole own set through the stream, fed in batches of `feed` keys as the driver reads them. */
function run(n: number, padding: number, seed: string, feed = PSI_BATCH_KEYS): { batches: PaddedBatch[]; positions: readonly number[] } {
  const s = new PaddedStream(padding, seededRandom(seed));
  const batches: PaddedBatch[] = [];
  for (let from = 0; from < n; from += feed) batches.push(...s.add(keys(from, Math.min(feed, n - from))));
  batches.push(...s.finish());
  return { batches, positions: s.positions };
}

const sizes = (batches: readonly PaddedBatch[]) => batches.map((b) => b.points.length / 32 + b.padding.length);

describe('PaddedStream: a padded own set in the batches of its stream', () => {
  it('every key once, in order, and every padding point, in batches all full but the last; the positions are the padding\'s', () => {
    for (const [n, padding, feed] of [[10_000, 178, PSI_BATCH_KEYS], [10_000, 178, 16], [100, 5_000, 7], [0, 300, 1], [9_000, 0, 1000], [4_096, 1, 4_096]] as const) {
      const { batches, positions } = run(n, padding, `all ${n} ${padding}`, feed);
      const s = stream(batches);
      expect(s.filter((k) => k !== 0)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(s.length).toBe(n + padding);
      expect(positions).toEqual(s.flatMap((k, i) => (k === 0 ? [i] : [])));
      expect(sizes(batches).slice(0, -1).every((size) => size === PSI_BATCH_KEYS)).toBe(true);
      expect(batches.every((b) => b.padding.every((x, i) => i === 0 || x > b.padding[i - 1]!))).toBe(true);
    }
  });

  it('the padding begins in the first batch: with E = 178 a first batch without any fails with probability 2^-178', () => {
    for (let run = 0; run < 20; run++) {
      const s = new PaddedStream(178, osRandom);
      expect(s.add(keys(0, PSI_BATCH_KEYS))[0]!.padding.length).toBeGreaterThan(0);
    }
  });

  it('the batches before the keys run out, and where the padding begins, are the same whatever the real size', () => {
    const small = run(30_000, 178, 'same').batches;
    const large = run(60_000, 178, 'same').batches;
    // The first batches, made before the smaller set's keys ran out: the same slots for the padding.
    const before = small.length - 2;
    expect(before).toBeGreaterThan(0);
    expect(large.slice(0, before).map((b) => [...b.padding])).toEqual(small.slice(0, before).map((b) => [...b.padding]));
  });

  it('each padding point left joins a new batch with probability 1/2; at the end the rest goes among the last keys at uniform slots', () => {
    // Fixed seeds: the bounds below are many standard deviations wide, but nothing here is left to chance.
    const E = 64;
    const firsts: number[] = [];
    const slots: number[] = new Array<number>(8).fill(0);
    for (let t = 0; t < 2_000; t++) {
      const random = seededRandom(`law ${t}`);
      firsts.push(new PaddedStream(E, random).add(keys(0, PSI_BATCH_KEYS))[0]!.padding.length);
      const tail = new PaddedStream(1, random);
      // Seven keys and the end: the batch begun never filled, so its draw is dropped and the one padding point goes
      // among the seven keys, each of the eight slots alike.
      tail.add(keys(0, 7));
      const slot = tail.finish()[0]!.padding[0]!;
      slots[slot] = slots[slot]! + 1;
    }
    // Binomial(64, 1/2): mean 32, standard deviation 4; the mean of 2,000 draws has deviation 0.09.
    const mean = firsts.reduce((a, b) => a + b, 0) / firsts.length;
    expect(Math.abs(mean - E / 2)).toBeLessThan(0.5);
    // 2,000 points over eight slots: 250 each, standard deviation 15.
    for (const c of slots) expect(Math.abs(c - 250)).toBeLessThan(60);
  });
});
