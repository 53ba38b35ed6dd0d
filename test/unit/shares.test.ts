import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_ABS_VALUE,
  RING_BITS,
  addShares,
  sumCouldWrap,
  decodeRingElements,
  encodeRingElements,
  reconstruct,
  share,
} from '../../src/crypto/shares.js';
import { CleanroomError } from '../../src/errors.js';
import { MAX_TABLE_ROWS } from '../../src/limits.js';

const RING = 1n << BigInt(RING_BITS);
const arbValue = fc.bigInt({ min: -MAX_ABS_VALUE, max: MAX_ABS_VALUE });
const arbParties = fc.integer({ min: 1, max: 6 });
const arbElement = fc.bigInt({ min: 0n, max: RING - 1n });

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof CleanroomError ? err.code : (err as Error).name;
  }
  return 'no error';
}

describe('share and reconstruct', () => {
  it('round-trip any value within ±MAX_ABS_VALUE for 1 to 6 parties', () => {
    fc.assert(
      fc.property(arbValue, arbParties, (v, n) => {
        const shares = share(v, n);
        expect(shares).toHaveLength(n);
        for (const s of shares) expect(s >= 0n && s < RING).toBe(true);
        expect(reconstruct(shares)).toBe(v);
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trip the extremes', () => {
    for (const v of [MAX_ABS_VALUE, -MAX_ABS_VALUE, 0n, 1n, -1n]) {
      for (let n = 1; n <= 6; n++) expect(reconstruct(share(v, n))).toBe(v);
    }
  });

  it('add: shares of a plus shares of b are shares of a + b', () => {
    fc.assert(
      fc.property(arbValue, arbValue, arbParties, (a, b, n) => {
        fc.pre(a + b <= MAX_ABS_VALUE && a + b >= -MAX_ABS_VALUE);
        expect(reconstruct(addShares(share(a, n), share(b, n)))).toBe(a + b);
      }),
      { numRuns: 500 },
    );
  });

  it('reject values out of range and bad party counts', () => {
    expect(codeOf(() => share(MAX_ABS_VALUE + 1n, 3))).toBe('RangeError');
    expect(codeOf(() => share(-MAX_ABS_VALUE - 1n, 3))).toBe('RangeError');
    expect(codeOf(() => share(1n, 0))).toBe('RangeError');
    expect(codeOf(() => share(1n, 1.5))).toBe('RangeError');
    expect(codeOf(() => reconstruct([]))).toBe('RangeError');
    expect(codeOf(() => reconstruct([RING]))).toBe('RangeError');
    expect(codeOf(() => reconstruct([-1n]))).toBe('RangeError');
    expect(codeOf(() => addShares([1n], [1n, 2n]))).toBe('RangeError');
    expect(codeOf(() => addShares([RING], [1n]))).toBe('RangeError');
  });
});

describe('a single share reveals nothing', () => {
  // Every share position of a fixed value must be uniform on its own. Bit balance over 4,000 draws:
  // each bit count is Binomial(4000, 1/2), sd 31.6; a 7 sd band fails a correct sharer with
  // probability ~3e-12 per bit, ~3e-9 over the 1,280 bits checked, while a constant or
  // value-correlated share sits at 0 or 4,000 and fails at once.
  const DRAWS = 4000;
  const BAND = 7 * Math.sqrt(DRAWS / 4);

  it.each([
    [2, 123456789n],
    [3, -MAX_ABS_VALUE],
    [5, 0n],
  ])('%i parties, value %s: each share position has balanced bits', (parties, value) => {
    const ones = Array.from({ length: parties }, () => new Array<number>(RING_BITS).fill(0));
    for (let d = 0; d < DRAWS; d++) {
      share(value, parties).forEach((s, position) => {
        for (let bit = 0; bit < RING_BITS; bit++) if ((s >> BigInt(bit)) & 1n) ones[position]![bit]!++;
      });
    }
    for (const counts of ones) {
      for (const c of counts) expect(Math.abs(c - DRAWS / 2)).toBeLessThan(BAND);
    }
  });

  it('the low byte of the last share passes a chi-square test', () => {
    // 256 bins, 25,600 draws, 255 degrees of freedom: mean 255, sd 22.6. The bound 255 + 10 sd
    // is exceeded by a uniform source with probability far below 1e-9.
    const bins = new Array<number>(256).fill(0);
    const draws = 25_600;
    for (let d = 0; d < draws; d++) bins[Number(share(42n, 3)[2]! & 0xffn)]!++;
    const expected = draws / 256;
    const chi2 = bins.reduce((acc, o) => acc + (o - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(255 + 10 * Math.sqrt(2 * 255));
  });
});

describe('ring element encoding', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(fc.array(arbElement, { maxLength: 20 }), (values) => {
        const bytes = encodeRingElements(values);
        expect(bytes).toHaveLength(16 * values.length);
        expect(decodeRingElements(bytes)).toEqual(values);
      }),
    );
  });

  it('is 16 bytes little-endian per element', () => {
    expect(Buffer.from(encodeRingElements([1n, RING - 1n])).toString('hex')).toBe('01' + '00'.repeat(15) + 'ff'.repeat(16));
  });

  it('decodes from a view into a larger buffer', () => {
    const backing = new Uint8Array(40);
    backing.set(encodeRingElements([5n, 7n]), 8);
    expect(decodeRingElements(backing.subarray(8, 40))).toEqual([5n, 7n]);
  });

  it('rejects out-of-range values and ragged bytes from a peer', () => {
    expect(codeOf(() => encodeRingElements([RING]))).toBe('RangeError');
    expect(codeOf(() => encodeRingElements([-1n]))).toBe('RangeError');
    expect(codeOf(() => decodeRingElements(new Uint8Array(17)))).toBe('PROTOCOL_VIOLATION');
  });
});

describe('sumCouldWrap: the one bound behind the manifest check', () => {
  it('fits exactly up to ±(2^127 - 1) and no further', () => {
    expect(sumCouldWrap(10n ** 25n, 10n ** 9n)).toBe(false);
    expect(sumCouldWrap(MAX_ABS_VALUE, 1n)).toBe(false);
    expect(sumCouldWrap(MAX_ABS_VALUE, 2n)).toBe(true);
    expect(sumCouldWrap(2n ** 64n, 2n ** 63n)).toBe(true);
    expect(sumCouldWrap(2n ** 64n, 2n ** 63n - 1n)).toBe(false);
    expect(() => sumCouldWrap(-1n, 1n)).toThrow(RangeError);
  });

  it('is what the manifest applies to every numeric column, with the row limit', () => {
    const limit = MAX_ABS_VALUE / MAX_TABLE_ROWS;
    expect(sumCouldWrap(limit, MAX_TABLE_ROWS)).toBe(false);
    expect(sumCouldWrap(limit + 1n, MAX_TABLE_ROWS)).toBe(true);
  });
});
