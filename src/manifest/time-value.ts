/**
 * Days and instants as the manifest and the query language write them (SPEC §5): a date is a count of days since
 * 1970-01-01, a timestamp a count of microseconds since 1970-01-01T00:00:00Z, both in the proleptic Gregorian
 * calendar, as DuckDB counts them. Text comes in as ISO 8601 (schema.ts checks its form) and goes out as DuckDB's
 * CAST(... AS VARCHAR) writes it, so that a label made here and one read from DuckDB are the same string.
 */

const MICROS_PER_DAY = 86_400_000_000n;

/** Days since 1970-01-01 of an ISO date `YYYY-MM-DD` (or the day part of a timestamp). */
export function daysOf(text: string): number {
  const [y, m, d] = [Number(text.slice(0, 4)), Number(text.slice(5, 7)), Number(text.slice(8, 10))];
  const t = new Date(Date.UTC(2000, m - 1, d));
  t.setUTCFullYear(y);
  return Math.round(t.getTime() / 86_400_000);
}

/** Microseconds since the epoch, UTC, of an ISO timestamp (an offset is subtracted; none means UTC) or date. */
export function instantOf(text: string): bigint {
  const m = /^.{10}[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|([+-])(\d{2}):?(\d{2})?)?$/.exec(text);
  const day = BigInt(daysOf(text)) * MICROS_PER_DAY;
  if (!m) return day;
  const [, hh, mm, ss = '0', frac = '', , sign, oh = '0', om = '0'] = m;
  const offset = sign === undefined ? 0n : (sign === '-' ? -1n : 1n) * (BigInt(oh) * 3600n + BigInt(om) * 60n) * 1_000_000n;
  return day + (BigInt(hh!) * 3600n + BigInt(mm!) * 60n + BigInt(ss)) * 1_000_000n + BigInt(frac.padEnd(6, '0')) - offset;
}

/** `YYYY-MM-DD` of a day count. */
export function dateText(days: number): string {
  const t = new Date(days * 86_400_000);
  const y = t.getUTCFullYear();
  return `${String(y).padStart(4, '0')}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}

/** `YYYY-MM-DD HH:MM:SS[.ffffff]` of an instant, trailing zeros of the fraction dropped, as DuckDB writes it. */
export function timestampText(micros: bigint): string {
  const days = floorDiv(micros, MICROS_PER_DAY);
  let rest = micros - days * MICROS_PER_DAY;
  const frac = rest % 1_000_000n;
  rest /= 1_000_000n;
  const time = `${pad(Number(rest / 3600n))}:${pad(Number((rest / 60n) % 60n))}:${pad(Number(rest % 60n))}`;
  return `${dateText(Number(days))} ${time}${frac === 0n ? '' : `.${frac.toString().padStart(6, '0').replace(/0+$/, '')}`}`;
}

/** The day an instant falls on (UTC). */
export function dayOfInstant(micros: bigint): number {
  return Number(floorDiv(micros, MICROS_PER_DAY));
}

/** The instant at which a day starts (UTC). */
export function instantOfDay(days: number): bigint {
  return BigInt(days) * MICROS_PER_DAY;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
