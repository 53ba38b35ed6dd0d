/**
 * Exact non-negative rationals for privacy parameters. ε and δ are written in the manifest as decimal numbers; the
 * samplers and the budget need them exactly (0.1 + 0.2 must be 3/10, and a budget of 1 must hold ten charges of
 * 0.1, not nine), so they are read from the shortest decimal text of the number, never through binary floating point.
 */
export interface Rational {
  readonly num: bigint;
  /** Always positive. */
  readonly den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

export function rational(num: bigint, den = 1n): Rational {
  if (den <= 0n) throw new RangeError('rational: the denominator is positive');
  const g = gcd(num, den) || 1n;
  return { num: num / g, den: den / g };
}

/**
 * The exact value of the decimal a JSON number was written as: JavaScript prints a double as the shortest decimal
 * that reads back to it, which is the text the manifest's author wrote (0.1 → 1/10, 1e-7 → 1/10000000).
 */
export function fromDecimal(x: number): Rational {
  if (!Number.isFinite(x) || x < 0) throw new RangeError(`fromDecimal: a finite non-negative number, got ${x}`);
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x));
  if (!m) throw new RangeError(`fromDecimal: cannot read ${x}`);
  const frac = m[2] ?? '';
  const exp = Number(m[3] ?? '0') - frac.length;
  const digits = BigInt(m[1]! + frac);
  return exp >= 0 ? rational(digits * 10n ** BigInt(exp)) : rational(digits, 10n ** BigInt(-exp));
}

export function add(a: Rational, b: Rational): Rational {
  return rational(a.num * b.den + b.num * a.den, a.den * b.den);
}

export function sub(a: Rational, b: Rational): Rational {
  return rational(a.num * b.den - b.num * a.den, a.den * b.den);
}

export function mul(a: Rational, b: Rational): Rational {
  return rational(a.num * b.num, a.den * b.den);
}

export function div(a: Rational, b: Rational): Rational {
  if (b.num === 0n) throw new RangeError('div: division by zero');
  const sign = b.num < 0n ? -1n : 1n;
  return rational(sign * a.num * b.den, sign * a.den * b.num);
}

export function compare(a: Rational, b: Rational): -1 | 0 | 1 {
  const d = a.num * b.den - b.num * a.den;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export function min(a: Rational, b: Rational): Rational {
  return compare(a, b) <= 0 ? a : b;
}

/** Exact decimal text when the denominator divides a power of ten, else a fraction: for ledgers and messages. */
export function toText(r: Rational): string {
  let den = r.den;
  let twos = 0;
  let fives = 0;
  while (den % 2n === 0n) [den, twos] = [den / 2n, twos + 1];
  while (den % 5n === 0n) [den, fives] = [den / 5n, fives + 1];
  if (den !== 1n) return `${r.num}/${r.den}`;
  const places = Math.max(twos, fives);
  const scaled = (r.num * 10n ** BigInt(places)) / r.den;
  const neg = scaled < 0n;
  const digits = (neg ? -scaled : scaled).toString().padStart(places + 1, '0');
  const text = places === 0 ? digits : `${digits.slice(0, -places)}.${digits.slice(-places)}`;
  return `${neg ? '-' : ''}${text}`;
}

/** Reads what toText wrote. */
export function fromText(s: string): Rational {
  const frac = /^(-?\d+)\/(\d+)$/.exec(s);
  if (frac) return rational(BigInt(frac[1]!), BigInt(frac[2]!));
  const dec = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
  if (!dec) throw new RangeError(`fromText: not a rational: ${s.slice(0, 40)}`);
  const f = dec[3] ?? '';
  const v = rational(BigInt(dec[2]! + f), 10n ** BigInt(f.length));
  return dec[1] ? rational(-v.num, v.den) : v;
}

/**
 * A positive float (a ρ found by bisection) as an exact decimal of about `digits` significant digits, rounded
 * outwards by one unit in the last digit in the safe `direction`, so that float rounding never errs the wrong way.
 */
export function fromFloat(x: number, direction: 'down' | 'up', digits = 12): Rational {
  if (!Number.isFinite(x) || x <= 0) throw new RangeError(`fromFloat: a finite positive number, got ${x}`);
  const k = digits - 1 - Math.floor(Math.log10(x));
  const scaled = x * 10 ** k;
  const n = direction === 'down' ? BigInt(Math.floor(scaled)) - 1n : BigInt(Math.ceil(scaled)) + 1n;
  if (n <= 0n) throw new RangeError(`fromFloat: ${x} rounds to nothing at ${digits} digits`);
  return k >= 0 ? rational(n, 10n ** BigInt(k)) : rational(n * 10n ** BigInt(-k));
}

/** For reports and tail bounds only: never on a path that samples noise or decides a charge. */
export function toNumber(r: Rational): number {
  return Number(r.num) / Number(r.den);
}
