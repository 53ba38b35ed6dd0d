import { POINT_BYTES } from '../crypto/group.js';

/**
 * A set of 32-byte group elements in flat typed arrays: 32 bytes per point plus a 4-byte slot at most half full,
 * instead of a JS string and a Set entry per point (about 100 bytes each). Blinded points are uniformly random,
 * so their first four bytes are already a perfect hash.
 */
export class PointSet {
  private points = new Uint8Array(0);
  private slots = new Uint32Array(0);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds every 32-byte point of `batch` (duplicates are kept once). */
  addAll(batch: Uint8Array): void {
    for (let off = 0; off < batch.length; off += POINT_BYTES) {
      if ((this.count + 1) * 2 > this.slots.length) this.grow();
      const slot = this.find(batch, off);
      if (this.slots[slot] !== 0) continue;
      this.points.set(batch.subarray(off, off + POINT_BYTES), this.count * POINT_BYTES);
      this.count += 1;
      this.slots[slot] = this.count;
    }
  }

  /** Whether the 32-byte point at `off` of `bytes` is in the set. */
  has(bytes: Uint8Array, off: number): boolean {
    return this.count > 0 && this.slots[this.find(bytes, off)] !== 0;
  }

  /** The points, one group element (POINT_BYTES) each, in insertion order (a view: valid until the next change). */
  all(): Uint8Array {
    return this.points.subarray(0, this.count * POINT_BYTES);
  }

  clear(): void {
    this.points = new Uint8Array(0);
    this.slots = new Uint32Array(0);
    this.count = 0;
  }

  /** The slot holding the point, or the empty slot where it would go (linear probing). */
  private find(bytes: Uint8Array, off: number): number {
    const mask = this.slots.length - 1;
    let slot = (bytes[off]! | (bytes[off + 1]! << 8) | (bytes[off + 2]! << 16) | (bytes[off + 3]! << 24)) & mask;
    for (;;) {
      const entry = this.slots[slot]!;
      if (entry === 0 || this.equals(entry - 1, bytes, off)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private equals(index: number, bytes: Uint8Array, off: number): boolean {
    const base = index * POINT_BYTES;
    for (let i = 0; i < POINT_BYTES; i++) if (this.points[base + i] !== bytes[off + i]) return false;
    return true;
  }

  private grow(): void {
    const capacity = Math.max(1024, this.slots.length);
    const points = new Uint8Array(capacity * POINT_BYTES);
    points.set(this.points.subarray(0, this.count * POINT_BYTES));
    this.points = points;
    this.slots = new Uint32Array(capacity * 2);
    for (let i = 0; i < this.count; i++) this.slots[this.find(points, i * POINT_BYTES)] = i + 1;
  }
}
