/** Random choices from a seed (the demo's PRNG), so that a fuzz run that fails can be replayed exactly. */
import { prng } from '../../scripts/demo-data.js';

export class SeededRand {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  hex(bytes: number): string {
    return this.bytes(bytes).toString('hex');
  }
}

/** A random msgpack-able value: what a fuzzer puts where a field belongs. */
export function fuzzValue(r: SeededRand, depth = 0): unknown {
  switch (r.int(depth > 1 ? 7 : 9)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1.5, 2 ** 32, 2 ** 53 + 2, -(2 ** 63), Number.NaN, Number.POSITIVE_INFINITY]);
    case 3:
      return r.bytes(r.int(40)).toString('latin1');
    case 4:
      return r.bytes(r.pick([0, 1, 16, 31, 32, 33, 64, 200]));
    case 5:
      return r.pick(['hello', 'auth', 'bye', 'points', '', 'alpha', 'beta', '*', 'q', 'counts']);
    case 6:
      return BigInt(r.int(9)) * 10n ** 18n;
    case 7:
      return Array.from({ length: r.int(5) }, () => fuzzValue(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['type', 'queryId', 'member', 'x', '__proto__', 'constructor']), fuzzValue(r, depth + 1)]));
  }
}
