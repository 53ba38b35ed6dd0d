/**
 * Random conditions of the query language (SPEC §5) as SQL text, for the property tests that compare the clean room
 * with the plaintext oracle (test/scenario/where.test.ts, random-queries.test.ts): predicates over one table's
 * columns of every type, and trees of AND, OR and NOT over them. Messy on purpose: case pairs in and out of ASCII,
 * spaces trim takes and a tab it leaves, LIKE wildcards and a backslash, days and instants on either side of a year,
 * quarter or day boundary.
 */
import fc from 'fast-check';

/** The columns of one table a condition may read, by type (an absent or empty list: none of that type). */
export interface ColumnsByType {
  readonly strings: readonly string[];
  readonly integers: readonly string[];
  readonly decimals?: readonly string[];
  readonly dates?: readonly string[];
  readonly timestamps?: readonly string[];
  readonly booleans?: readonly string[];
}

/** Text values: case pairs in and out of ASCII, spaces trim takes (and a tab it leaves), wildcard characters. */
export const TEXTS = ['spring', 'Spring', 'SPRING', ' spring ', '\u3000Spring\u00a0', 'été', 'Été', 'ÉTÉ', 'straße', 'STRASSE', 'STRAẞE', 'İstanbul', 'istanbul', 'ΟΔΟΣ', 'οδος', '50%_off', '50% off', 'a\\b', '\tTab', '😀 party', 'ǅ', 'ﬁx'];
/** Pieces of LIKE patterns: wildcards, a backslash (no escape character), letters whose case maps oddly. */
export const PATTERN_PIECES = ['%', '%', '_', 's', 'S', 'é', 'É', 'ß', 'ẞ', 'i', 'İ', '\\', '50', ' ', 'o', 'ς', 'σ', 'spring'];
/** Days around the boundaries of ISO weeks, months, quarters and years (2024-12-30 is the Monday of 2025's week 1), and before the epoch. */
export const DATES = ['2024-12-23', '2024-12-29', '2024-12-30', '2024-12-31', '2025-01-01', '2025-01-05', '2025-01-06', '2024-02-29', '2024-03-31', '2024-04-01', '2024-06-30', '2024-07-01', '2024-09-30', '2024-10-01', '2021-01-03', '1969-12-31', '2000-01-01'];
/**
 * Instants as a table may write them: T or a space, with or without seconds and a fraction, in UTC or at an offset
 * that moves them across midnight, a year or a quarter.
 */
export const TIMESTAMPS = [
  '2024-12-31T23:59:59.999999Z',
  '2024-12-31 23:30:00',
  '2025-01-01 00:00:00',
  '2025-01-01T00:30:00+01:00',
  '2024-12-31 22:30-02:00',
  '2024-12-30T00:00',
  '2024-06-30 23:00:00.5',
  '2024-07-01 00:00:00+0100',
  '2025-01-05 12:34:56.0001',
  '1969-12-31 23:59:59.5',
  '2024-03-31T23:15:00-01',
  '2025-01-06T09:00:00Z',
];
/** TIMESTAMP literals: canonical, with a T, at an offset, with a fraction. */
export const TIMESTAMP_LITERALS = ['2024-12-31 23:59:59', '2025-01-01 00:00:00', '2024-12-31 23:30:00', '2025-01-01T00:30:00+01:00', '2024-06-30 23:00:00.5', '2024-07-01', '2024-12-30 00:00:00', '1970-01-01 00:00:00'];

export const quoted = (s: string) => `'${s.replaceAll("'", "''")}'`;

const COMPARISONS = ['=', '!=', '<', '<=', '>', '>='] as const;

/** Comparison, IN, BETWEEN and IS NULL of `column` with `literal`s, NOT IN and NOT BETWEEN included. */
function ordered(column: fc.Arbitrary<string>, literal: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    fc.tuple(column, fc.constantFrom(...COMPARISONS), literal).map(([c, op, v]) => `${c} ${op} ${v}`),
    fc.tuple(column, fc.boolean(), fc.array(literal, { minLength: 1, maxLength: 3 })).map(([c, not, vs]) => `${c} ${not ? 'NOT IN' : 'IN'} (${vs.join(', ')})`),
    fc.tuple(column, fc.boolean(), literal, literal).map(([c, not, lo, hi]) => `${c} ${not ? 'NOT BETWEEN' : 'BETWEEN'} ${lo} AND ${hi}`),
    fc.tuple(column, fc.boolean()).map(([c, not]) => `${c} IS ${not ? 'NOT ' : ''}NULL`),
  );
}

/** One predicate over a column of `alias`, as SQL text. */
export function predicate(alias: string, columns: ColumnsByType): fc.Arbitrary<string> {
  const { strings, integers } = columns;
  const stringLiteral = fc.constantFrom(...TEXTS, 'é', 'ETE', 'a', 'z').map(quoted);
  const subject = fc
    .tuple(fc.constantFrom(...strings), fc.array(fc.constantFrom('lower', 'upper', 'trim'), { maxLength: 2 }))
    .map(([c, fns]) => fns.reduce((inner, fn) => `${fn}(${inner})`, `${alias}.${c}`));
  const pattern = fc.array(fc.constantFrom(...PATTERN_PIECES), { minLength: 1, maxLength: 4 }).map((ps) => quoted(ps.join('')));
  const onStrings = fc.oneof(
    fc.tuple(subject, fc.constantFrom(...COMPARISONS), stringLiteral, fc.boolean()).map(([s, op, lit, flip]) => (flip ? `${lit} ${op} ${s}` : `${s} ${op} ${lit}`)),
    fc.tuple(subject, fc.boolean(), fc.array(stringLiteral, { minLength: 1, maxLength: 3 })).map(([s, not, ls]) => `${s} ${not ? 'NOT IN' : 'IN'} (${ls.join(', ')})`),
    fc.tuple(subject, fc.boolean(), stringLiteral, stringLiteral).map(([s, not, lo, hi]) => `${s} ${not ? 'NOT BETWEEN' : 'BETWEEN'} ${lo} AND ${hi}`),
    fc.tuple(subject, fc.constantFrom('LIKE', 'NOT LIKE', 'ILIKE', 'NOT ILIKE'), pattern).map(([s, op, p]) => `${s} ${op} ${p}`),
    fc.tuple(subject, fc.boolean()).map(([s, not]) => `${s} IS ${not ? 'NOT ' : ''}NULL`),
  );
  const of = (names: readonly string[]) => fc.constantFrom(...names).map((c) => `${alias}.${c}`);
  const int = fc.integer({ min: -1, max: 21 }).map(String);
  const onIntegers = ordered(of(integers), int);
  const kinds: fc.WeightedArbitrary<string>[] = [];
  if (strings.length > 0) kinds.push({ arbitrary: onStrings, weight: 3 });
  if (integers.length > 0) kinds.push({ arbitrary: onIntegers, weight: 2 });
  if (columns.decimals?.length) {
    const decimal = fc.constantFrom('0', '-12.50', '3.1', '10', '-0.01', '25.00');
    kinds.push({ arbitrary: ordered(of(columns.decimals), decimal), weight: 1 });
  }
  if (columns.dates?.length) kinds.push({ arbitrary: ordered(of(columns.dates), fc.constantFrom(...DATES).map((d) => `DATE ${quoted(d)}`)), weight: 2 });
  if (columns.timestamps?.length) kinds.push({ arbitrary: ordered(of(columns.timestamps), fc.constantFrom(...TIMESTAMP_LITERALS).map((t) => `TIMESTAMP ${quoted(t)}`)), weight: 2 });
  if (columns.booleans?.length) {
    const bool = fc.constantFrom('true', 'false');
    const onBooleans = fc.oneof(
      fc.tuple(of(columns.booleans), fc.constantFrom('=', '!=', '<>'), bool).map(([c, op, b]) => `${c} ${op} ${b}`),
      fc.tuple(of(columns.booleans), fc.boolean(), bool).map(([c, not, b]) => `${c} ${not ? 'NOT IN' : 'IN'} (${b})`),
      fc.tuple(of(columns.booleans), fc.boolean()).map(([c, not]) => `${c} IS ${not ? 'NOT ' : ''}NULL`),
    );
    kinds.push({ arbitrary: onBooleans, weight: 1 });
  }
  return fc.oneof(...kinds);
}

/** A tree of AND, OR and NOT over one table's predicates, up to three levels deep. */
export function conditionTree(alias: string, columns: ColumnsByType): fc.Arbitrary<string> {
  const { node } = fc.letrec<{ node: string }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      predicate(alias, columns),
      fc.tuple(fc.constantFrom('AND', 'OR'), fc.array(tie('node'), { minLength: 2, maxLength: 3 })).map(([op, xs]) => `(${xs.join(` ${op} `)})`),
      tie('node').map((x) => `NOT (${x})`),
    ),
  }));
  return node;
}
