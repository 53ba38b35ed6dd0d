import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { add, compare, div, fromDecimal, fromText, min, rational, sub, toNumber, toText, type Rational } from '../../src/dp/rational.js';

const r = (num: bigint, den = 1n): Rational => ({ num, den });

describe('fromDecimal: the decimal the manifest author wrote, exactly', () => {
  it('reads plain and exponent forms in lowest terms', () => {
    expect(fromDecimal(0.1)).toEqual(r(1n, 10n));
    expect(fromDecimal(1e-7)).toEqual(r(1n, 10_000_000n));
    expect(fromDecimal(2.5e-3)).toEqual(r(1n, 400n));
    expect(fromDecimal(10)).toEqual(r(10n));
    expect(fromDecimal(0)).toEqual(r(0n));
    expect(fromDecimal(0.3)).toEqual(r(3n, 10n));
    expect(fromDecimal(1.25e-9)).toEqual(r(1n, 800_000_000n));
    expect(fromDecimal(1e21)).toEqual(r(10n ** 21n));
    expect(fromDecimal(123.456)).toEqual(r(15432n, 125n));
  });

  it('is not the binary value of the double: 0.1 + 0.2 is exactly 3/10', () => {
    expect(add(fromDecimal(0.1), fromDecimal(0.2))).toEqual(fromDecimal(0.3));
    expect(0.1 + 0.2).not.toBe(0.3);
  });

  it('ten charges of 0.1 sum to exactly 1 (floats make nine fit and not ten)', () => {
    const total = Array.from({ length: 10 }, () => fromDecimal(0.1)).reduce(add);
    expect(total).toEqual(r(1n));
    expect(compare(total, fromDecimal(1))).toBe(0);
    let float = 0;
    for (let i = 0; i < 10; i++) float += 0.1;
    expect(float).toBeLessThan(1);
  });

  it('refuses negative, non-finite and NaN input with a RangeError naming it', () => {
    for (const x of [-1, -1e-9, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => fromDecimal(x), String(x)).toThrow(RangeError);
      expect(() => fromDecimal(x), String(x)).toThrow(/^fromDecimal:/);
    }
  });

  it('agrees with the double for any finite non-negative number (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), (x) => {
        const q = fromDecimal(x);
        // Exact decimal text of the shortest round-trip form: converting back reads the same double.
        expect(Number(toText(q))).toBe(x);
        expect(q.den > 0n).toBe(true);
      }),
    );
  });
});

describe('toText and fromText', () => {
  it('writes decimals when the denominator divides a power of ten, else a fraction', () => {
    expect(toText(rational(1n, 3n))).toBe('1/3');
    expect(toText(rational(-1n, 3n))).toBe('-1/3');
    expect(toText(rational(1n, 8n))).toBe('0.125');
    expect(toText(rational(-1n, 8n))).toBe('-0.125');
    expect(toText(rational(5n, 2n))).toBe('2.5');
    expect(toText(rational(-3n))).toBe('-3');
    expect(toText(rational(0n))).toBe('0');
    expect(toText(fromDecimal(1e-7))).toBe('0.0000001');
    expect(toText(rational(7n, 20n))).toBe('0.35');
  });

  it('round trip: fromText(toText(x)) is x in lowest terms (property)', () => {
    const den = fc.oneof(
      fc.bigInt({ min: 1n, max: 10n ** 30n }),
      // Products of 2s and 5s, so that the decimal branch is exercised as often as the fraction one.
      fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })).map(([a, b]) => 2n ** BigInt(a) * 5n ** BigInt(b)),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), den, (num, d) => {
        const x = rational(num, d);
        expect(fromText(toText(x))).toEqual(x);
      }),
    );
  });

  it('fromText refuses what toText never writes', () => {
    for (const s of ['', 'abc', '1/0', '1/-2', '1.', '.5', '+1', '1e-7', '0x10', '1/2/3', ' 1']) {
      expect(() => fromText(s), JSON.stringify(s)).toThrow(RangeError);
    }
  });
});

describe('arithmetic, compare, min', () => {
  it('keeps lowest terms and a positive denominator', () => {
    expect(rational(6n, 4n)).toEqual(r(3n, 2n));
    expect(rational(0n, 7n)).toEqual(r(0n));
    expect(sub(fromDecimal(0.3), fromDecimal(0.5))).toEqual(r(-1n, 5n));
    expect(div(r(1n), r(-2n, 3n))).toEqual(r(-3n, 2n));
  });

  it('compare orders exactly, even where doubles cannot tell', () => {
    const a = r(10n ** 20n + 1n, 10n ** 20n);
    const b = r(1n);
    expect(toNumber(a)).toBe(toNumber(b));
    expect(compare(a, b)).toBe(1);
    expect(compare(b, a)).toBe(-1);
    expect(compare(r(2n, 4n), r(1n, 2n))).toBe(0);
    expect(compare(r(-1n, 3n), r(-1n, 4n))).toBe(-1);
    expect(min(a, b)).toBe(b);
    expect(min(fromDecimal(0.3), fromDecimal(0.25))).toEqual(r(1n, 4n));
  });

  it('compare and min agree with the order of the exact values (property)', () => {
    const q = fc.tuple(fc.bigInt({ min: -1000n, max: 1000n }), fc.bigInt({ min: 1n, max: 1000n })).map(([n, d]) => rational(n, d));
    fc.assert(
      fc.property(q, q, (a, b) => {
        const d = sub(a, b).num;
        expect(compare(a, b)).toBe(d < 0n ? -1 : d > 0n ? 1 : 0);
        expect(compare(min(a, b), a) <= 0 && compare(min(a, b), b) <= 0).toBe(true);
        expect(add(sub(a, b), b)).toEqual(a);
      }),
    );
  });

  it('refuses a zero or negative denominator and division by zero', () => {
    expect(() => rational(1n, 0n)).toThrow(RangeError);
    expect(() => rational(1n, -2n)).toThrow(/^rational:/);
    expect(() => div(r(1n), r(0n))).toThrow(RangeError);
    expect(() => div(r(1n), r(0n))).toThrow(/^div:/);
  });
});
