import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PointSet } from '../../src/session/point-set.js';

const hex = (b: Uint8Array, off: number, width: number) => Buffer.from(b.subarray(off, off + width)).toString('hex');

function chunksOf(set: PointSet): string[] {
  return [...set.chunks()].flatMap((c) => Array.from({ length: c.length / 8 }, (_, i) => hex(c, i * 8, 8)));
}

describe('PointSet', () => {
  it('holds what a Set of the points holds, in insertion order, duplicates once (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.uint8Array({ minLength: 8, maxLength: 8 }), { maxLength: 40 }), { maxLength: 8 }), fc.array(fc.uint8Array({ minLength: 8, maxLength: 8 }), { maxLength: 20 }), (batches, probes) => {
        const set = new PointSet(8);
        const model = new Set<string>();
        for (const batch of batches) {
          set.addAll(Uint8Array.from(batch.flatMap((p) => [...p])));
          for (const p of batch) model.add(hex(p, 0, 8));
        }
        expect(set.size).toBe(model.size);
        expect(chunksOf(set)).toEqual([...model]);
        for (const p of [...batches.flat(), ...probes]) expect(set.has(p, 0)).toBe(model.has(hex(p, 0, 8)));
      }),
    );
  });

  it('keeps every point across its first block growing and whole blocks (150,000 points, some repeated)', () => {
    const set = new PointSet(8);
    const n = 150_000;
    const all = new Uint8Array(n * 8);
    const view = new DataView(all.buffer);
    // Points come in pairs with equal first words (the hash): the probe must compare whole points.
    for (let i = 0; i < n; i++) {
      view.setUint32(i * 8, Math.imul(i >>> 1, 0x9e3779b1) >>> 0, true);
      view.setUint32(i * 8 + 4, i, true);
    }
    for (let off = 0; off < all.length; off += 8 * 7_919) set.addAll(all.subarray(off, Math.min(all.length, off + 8 * 7_919)));
    set.addAll(all.subarray(0, 8 * 1_000));
    expect(set.size).toBe(n);
    const stored = [...set.chunks()];
    expect(stored.map((c) => c.length)).toEqual([65_536 * 8, 65_536 * 8, (n - 2 * 65_536) * 8]);
    expect(Buffer.concat(stored).equals(Buffer.from(all))).toBe(true);
    const absent = new Uint8Array(8);
    new DataView(absent.buffer).setUint32(4, n, true);
    expect(set.has(absent, 0)).toBe(false);
    for (let i = 0; i < n; i += 997) expect(set.has(all, i * 8)).toBe(true);
  });

  it('keeps only the first keptBytes of each point when asked, and matches on them (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 12, maxLength: 12 }), { maxLength: 60 }), fc.array(fc.uint8Array({ minLength: 12, maxLength: 12 }), { maxLength: 20 }), (points, probes) => {
        const set = new PointSet(12, 6);
        set.addAll(Uint8Array.from(points.flatMap((p) => [...p])));
        const model = new Set(points.map((p) => hex(p, 0, 6)));
        expect(set.size).toBe(model.size);
        expect([...set.chunks()].flatMap((c) => Array.from({ length: c.length / 6 }, (_, i) => hex(c, i * 6, 6)))).toEqual([...model]);
        for (const p of [...points, ...probes]) expect(set.has(p, 0)).toBe(model.has(hex(p, 0, 6)));
        // The same first 6 bytes and another tail: the same point as far as the set is concerned.
        for (const p of points) expect(set.has(Uint8Array.from(p, (b, i) => (i < 6 ? b : b ^ 0xff)), 0)).toBe(true);
      }),
    );
  });

  it('refuses to keep fewer than its hash word or more than a point', () => {
    expect(() => new PointSet(32, 3)).toThrow(RangeError);
    expect(() => new PointSet(32, 33)).toThrow(RangeError);
    expect(() => new PointSet(32, 16.5)).toThrow(RangeError);
  });

  it('is empty after clear', () => {
    const set = new PointSet(8);
    const p = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    set.addAll(p);
    set.clear();
    expect(set.size).toBe(0);
    expect(set.has(p, 0)).toBe(false);
    expect([...set.chunks()]).toEqual([]);
  });
});
