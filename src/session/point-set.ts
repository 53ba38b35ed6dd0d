/**
 * Points per block of storage: a set grows by whole blocks, never by copying what it holds, so a set of n points
 * takes n points' bytes plus at most one block (2 MiB), where one doubling array would take up to 2n while it grows
 * and 3n while it copies (10M points: 320 MB against 960 MB).
 */
const BLOCK_SHIFT = 16;
const BLOCK_POINTS = 1 << BLOCK_SHIFT;
/** A small set (most sets in tests, a ring's transit sets) starts with a small first block, doubled up to a whole one. */
const FIRST_BLOCK_POINTS = 1024;

/**
 * A set of group elements of `pointBytes` bytes each in flat typed arrays: a point's bytes plus a 4-byte slot at most
 * three quarters full, instead of a JS string and a Set entry per point (about 100 bytes each). Blinded points are
 * uniformly random, so their first four bytes are already a perfect hash.
 *
 * A set that only answers `has` may keep the first `keptBytes` of each point instead of all of it (the aggregator's,
 * SPEC §4.2 step 4): two points are then the same when those bytes are, and `chunks` yields the kept bytes.
 */
export class PointSet {
  private blocks: Uint8Array[] = [];
  private slots = new Uint32Array(0);
  private count = 0;

  constructor(
    private readonly pointBytes: number,
    private readonly keptBytes = pointBytes,
  ) {
    if (!(Number.isInteger(keptBytes) && keptBytes >= 4 && keptBytes <= pointBytes)) throw new RangeError(`PointSet: keptBytes must be an integer from 4 to ${pointBytes}, got ${keptBytes}`);
  }

  get size(): number {
    return this.count;
  }

  /** Adds every point of `batch` (duplicates are kept once). */
  addAll(batch: Uint8Array): void {
    const width = this.keptBytes;
    for (let off = 0; off < batch.length; off += this.pointBytes) {
      if ((this.count + 1) * 4 > this.slots.length * 3) this.rehash();
      const slot = this.find(batch, off);
      if (this.slots[slot] !== 0) continue;
      const block = this.count >>> BLOCK_SHIFT;
      const at = (this.count & (BLOCK_POINTS - 1)) * width;
      if (block === this.blocks.length) this.blocks.push(new Uint8Array((block === 0 ? FIRST_BLOCK_POINTS : BLOCK_POINTS) * width));
      else if (at === this.blocks[block]!.length) this.growFirstBlock();
      this.blocks[block]!.set(batch.subarray(off, off + width), at);
      this.count += 1;
      this.slots[slot] = this.count;
    }
  }

  /** Whether the point at `off` of `bytes` is in the set. */
  has(bytes: Uint8Array, off: number): boolean {
    return this.count > 0 && this.slots[this.find(bytes, off)] !== 0;
  }

  /** The points (their kept bytes) in insertion order, a block at a time (views: valid until the next change). */
  *chunks(): Generator<Uint8Array> {
    for (let b = 0; b * BLOCK_POINTS < this.count; b++) yield this.blocks[b]!.subarray(0, Math.min(BLOCK_POINTS, this.count - b * BLOCK_POINTS) * this.keptBytes);
  }

  clear(): void {
    this.blocks = [];
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
    const width = this.keptBytes;
    const block = this.blocks[index >>> BLOCK_SHIFT]!;
    const base = (index & (BLOCK_POINTS - 1)) * width;
    for (let i = 0; i < width; i++) if (block[base + i] !== bytes[off + i]) return false;
    return true;
  }

  private growFirstBlock(): void {
    const first = new Uint8Array(Math.min(BLOCK_POINTS * this.keptBytes, this.blocks[0]!.length * 2));
    first.set(this.blocks[0]!);
    this.blocks[0] = first;
  }

  /** Doubles the slots and places every point again; the points themselves stay where they are. */
  private rehash(): void {
    this.slots = new Uint32Array(Math.max(2 * FIRST_BLOCK_POINTS, this.slots.length * 2));
    const width = this.keptBytes;
    for (let i = 0; i < this.count; i++) {
      const block = this.blocks[i >>> BLOCK_SHIFT]!;
      this.slots[this.find(block, (i & (BLOCK_POINTS - 1)) * width)] = i + 1;
    }
  }
}
