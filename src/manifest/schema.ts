import { z } from 'zod';
import { sumCouldWrap } from '../crypto/shares.js';
import { MAX_JOIN_KEYS, MAX_TABLE_ROWS } from '../limits.js';
import { instantOf } from './time-value.js';

/** The share ring holds signed values up to 2^127 - 1 (src/crypto/shares.ts). */

export const MANIFEST_FORMAT = 'cleanroom-manifest/1';

const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lowercase letters, digits and _, starting with a letter or _, at most 63');
export const MemberId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and -, at most 63');
const hex32 = z.string().regex(/^[0-9a-f]{64}$/, '32 bytes as lowercase hex');

export const Member = z.strictObject({
  id: MemberId,
  name: z.string().min(1).max(200),
  endpoint: z.string().regex(/^wss?:\/\/[^\s/]+(\/[^\s]*)?$/, 'a ws:// or wss:// URL'),
  /** Ed25519 public key: proves the member in the channel handshake and signs the manifest. */
  publicKey: hex32,
});

const bound = z.number().finite();

/** A calendar day, YYYY-MM-DD, that exists (no 2021-02-30), years 0001 to 9999. */
export const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/**
 * An instant as CSV files and bounds write it (SPEC §5): a day, T or a space, hours and minutes, optional seconds with
 * up to 6 decimals, and an optional UTC offset (Z, ±HH, ±HH:MM or ±HHMM); without one the time is UTC.
 */
export const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/;

function realDay(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(2000, mo - 1, d));
  day.setUTCFullYear(y);
  return y >= 1 && day.getUTCFullYear() === y && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d;
}

const isoDate = z.string().regex(ISO_DATE, 'a date written YYYY-MM-DD').refine(realDay, 'a day that exists in the calendar');
const isoTimestamp = z
  .string()
  .regex(ISO_TIMESTAMP, 'a timestamp written YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|±HH:MM]')
  .refine((t) => realDay(t) && Number(t.slice(11, 13)) < 24 && Number(t.slice(14, 16)) < 60 && !(Number(t.slice(17, 19)) >= 60), 'a day and a time that exist');
export const Column = z.discriminatedUnion('type', [
  z.strictObject({
    name: identifier,
    type: z.literal('string'),
    /**
     * The column's possible values. Required to GROUP BY it on a federated table: every holder then reports every
     * group, so that no holder learns which groups another has.
     */
    values: z.array(z.string().min(1).max(200)).min(1).max(1000).optional(),
  }),
  z.strictObject({ name: identifier, type: z.literal('integer'), min: z.number().int().safe(), max: z.number().int().safe(), required: z.boolean().optional() }),
  z.strictObject({
    name: identifier,
    type: z.literal('decimal'),
    /** Digits after the point; sums are exact integers in units of 10^-scale. */
    scale: z.number().int().min(0).max(9),
    min: bound,
    max: bound,
    /**
     * Every row holds a value (NOT NULL; an empty CSV field breaks the rule). SUM and AVG of such a column need no
     * non-null count of their own: the matched-row count serves, so under a privacy policy one fewer value is
     * released and the others get more of ε (SPEC §10.2).
     */
    required: z.boolean().optional(),
  }),
  z.strictObject({
    name: identifier,
    type: z.literal('date'),
    /** Bounds, inclusive: a value outside them is a data problem. Under a privacy policy, date_trunc groups by them. */
    min: isoDate.optional(),
    max: isoDate.optional(),
    required: z.boolean().optional(),
  }),
  z.strictObject({ name: identifier, type: z.literal('timestamp'), min: isoTimestamp.optional(), max: isoTimestamp.optional(), required: z.boolean().optional() }),
  z.strictObject({ name: identifier, type: z.literal('boolean'), required: z.boolean().optional() }),
]);

/** The column types whose values are numbers: summed, averaged, bounded by min and max numbers. */
export type NumericColumn = Extract<Column, { type: 'integer' | 'decimal' }>;
/** The column types whose values are days or instants (UTC). */
export type TimeColumn = Extract<Column, { type: 'date' | 'timestamp' }>;

export function isNumeric(c: Column): c is NumericColumn {
  return c.type === 'integer' || c.type === 'decimal';
}

export function isTime(c: Column): c is TimeColumn {
  return c.type === 'date' || c.type === 'timestamp';
}

export const Normalization = z.enum(['exact', 'email', 'phone']);
const JoinKeySpec = z.strictObject({ column: identifier, normalization: Normalization });

export const AggregationRule = z.strictObject({
  column: identifier,
  /** `variance` allows VAR_SAMP, VAR_POP, STDDEV_SAMP and STDDEV_POP (and DuckDB's aliases variance, stddev). */
  functions: z.array(z.enum(['sum', 'avg', 'variance'])).min(1),
});

/**
 * A table's differential-privacy policy (SPEC §10): every query touching the table releases only noisy values, the
 * noise sized for `epsilon` and `delta` per query, and the owner's node charges `epsilon` to the table's budget.
 * The privacy unit is one person: one distinct normalised join key, whose rows beyond `maxRowsPerKey` are dropped.
 */
export const PrivacyPolicy = z.strictObject({
  epsilon: z.number().positive().max(10),
  /** Chance that a group of fewer than minDistinctKeys people is released at all, and of the count-only dummies' clamp. */
  delta: z.number().positive().max(1e-3),
  maxRowsPerKey: z.number().int().min(1).max(1000),
  budget: z.strictObject({
    epsilon: z.number().positive().max(1000),
    /** `month`: restored on the first of each month (UTC), which bounds what is learnt per month, not forever. */
    refresh: z.enum(['month', 'never']),
  }),
  /**
   * How queries add up against the budget (SPEC §10.4): `pure`, ε by basic composition with discrete Laplace noise;
   * `zcdp`, ρ (zero-concentrated DP) with discrete Gaussian noise, converted to (budget ε, δ) once for the period.
   * By default, the one under which the budget buys more (src/query/privacy-plan.ts).
   */
  accounting: z.enum(['pure', 'zcdp']).optional(),
});

export const AnalysisRule = z.strictObject({
  /** Columns that may be summed or averaged, and how. COUNT(*) is always allowed. */
  aggregations: z.array(AggregationRule).default([]),
  /** Columns usable in WHERE and GROUP BY. The join key can never be one. */
  dimensions: z.array(identifier).default([]),
  /** Every output row must rest on at least this many distinct join keys; the strictest table of a query wins. */
  minDistinctKeys: z.number().int().min(1).max(1_000_000),
  /**
   * Members allowed to learn which of their own keys are in this table's key set, and by which of this table's
   * dimensions the querier may filter that set (none by default): a filter the querier chooses narrows the set
   * whose overlap is learnt, so without a limit it reads this table's values person by person. A bare member id
   * grants the unfiltered set only.
   */
  overlapDisclosure: z.array(z.union([MemberId, z.strictObject({ member: MemberId, filters: z.array(identifier).default([]) })])).default([]),
  privacy: PrivacyPolicy.optional(),
});

export const Table = z.strictObject({
  name: identifier,
  /** The member that wrote the table's rules; for a federated table, one of its holders. */
  owner: MemberId,
  /**
   * A federated table: one logical table of this schema, held in parts by each of these members (salaries at
   * several employers). Queries reveal totals over all parts and no holder's own contribution.
   */
  holders: z.array(MemberId).min(2).optional(),
  columns: z.array(Column).min(1),
  /**
   * The columns queries may join on, each with its normalisation (SPEC §3): one, or several (SPEC §4.7), the first the
   * one a plain join and the match report use when nothing else is named.
   */
  joinKey: z.union([JoinKeySpec, z.array(JoinKeySpec).min(1).max(MAX_JOIN_KEYS)]),
  rules: AnalysisRule,
});

export const ManifestBody = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  collaborationId: MemberId,
  name: z.string().min(1).max(200),
  /** Any change needs every signature again; the version makes the change visible to people. */
  version: z.number().int().min(1).max(2 ** 32 - 1),
  members: z.array(Member).min(2),
  tables: z.array(Table).min(1),
  queriers: z.array(MemberId).min(1),
  receivers: z.array(MemberId).min(1),
  /**
   * Verified re-blinding (SPEC §4.2.1): in a two-party aggregate query the partner proves that every point it returns
   * is its one secret times the aggregator's point at that position, and the aggregator checks it before it matches.
   */
  verify: z.boolean().optional(),
});

export type Member = z.infer<typeof Member>;
export type Column = z.infer<typeof Column>;
export type Table = z.infer<typeof Table>;
export type Normalization = z.infer<typeof Normalization>;
export type JoinKeySpec = z.infer<typeof JoinKeySpec>;

/** A table's join keys, the first the default one (a manifest may write a single key without a list). */
export function joinKeysOf(t: Pick<Table, 'joinKey'>): readonly JoinKeySpec[] {
  return Array.isArray(t.joinKey) ? t.joinKey : [t.joinKey as JoinKeySpec];
}
export type PrivacyPolicy = z.infer<typeof PrivacyPolicy>;
export type Manifest = z.infer<typeof ManifestBody>;

/** What `table` grants `member` under overlapDisclosure: the dimensions that may filter the disclosed set, or nothing. */
export function overlapGrant(table: Table, member: string): { readonly filters: readonly string[] } | undefined {
  for (const g of table.rules.overlapDisclosure) {
    if (typeof g === 'string' ? g === member : g.member === member) return { filters: typeof g === 'string' ? [] : g.filters };
  }
  return undefined;
}

/** The members holding rows of a table: its owner, or every holder of a federated table. */
export function holdersOf(t: Table): readonly string[] {
  return t.holders ?? [t.owner];
}

/**
 * Whether a column's non-null count is its table's row count: a numeric column declared `required` has no NULL in
 * any row (the group vector reads its non-null count from the row count, src/query/group-vector.ts).
 */
export function everyRowHasValue(c: Column): boolean {
  return c.type !== 'string' && c.required === true;
}

/** The largest |value| of a numeric column, in units of 10^-scale: what one row can add to a sum, rounded up. */
export function maxAbsUnits(c: NumericColumn): bigint {
  const scale = c.type === 'decimal' ? c.scale : 0;
  return BigInt(Math.ceil(Math.max(Math.abs(c.min), Math.abs(c.max)))) * 10n ** BigInt(scale);
}

/** Cross-field checks: every reference resolves, and no declared sum can wrap the share ring. */
export const Manifest = ManifestBody.superRefine((m, ctx) => {
  const fail = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const memberIds = new Set<string>();
  m.members.forEach((member, i) => {
    if (memberIds.has(member.id)) fail(['members', i, 'id'], `member ${member.id} is listed twice`);
    memberIds.add(member.id);
  });
  const keys = new Set(m.members.map((x) => x.publicKey));
  if (keys.size !== m.members.length) fail(['members'], 'two members share a public key');
  const known = (id: string, path: (string | number)[]) => {
    if (!memberIds.has(id)) fail(path, `${id} is not a member`);
  };
  m.queriers.forEach((id, i) => known(id, ['queriers', i]));
  m.receivers.forEach((id, i) => known(id, ['receivers', i]));

  const tableNames = new Set<string>();
  m.tables.forEach((t, ti) => {
    const at = (...p: (string | number)[]) => ['tables', ti, ...p];
    if (tableNames.has(t.name)) fail(at('name'), `table ${t.name} is declared twice`);
    tableNames.add(t.name);
    known(t.owner, at('owner'));
    if (t.holders) {
      t.holders.forEach((h, i) => known(h, at('holders', i)));
      if (new Set(t.holders).size !== t.holders.length) fail(at('holders'), `a member holds ${t.name} twice`);
      if (!t.holders.includes(t.owner)) fail(at('owner'), `the owner of the federated table ${t.name} must be one of its holders`);
    }
    const columns = new Map<string, Column>();
    t.columns.forEach((c, ci) => {
      if (columns.has(c.name)) fail(at('columns', ci), `column ${t.name}.${c.name} is declared twice`);
      columns.set(c.name, c);
      if (isTime(c) && c.min !== undefined && c.max !== undefined && instantOf(c.min) > instantOf(c.max)) fail(at('columns', ci), `column ${t.name}.${c.name}: min is after max`);
      if (isNumeric(c)) {
        if (c.min > c.max) fail(at('columns', ci), `column ${t.name}.${c.name}: min is above max`);
        if (sumCouldWrap(maxAbsUnits(c), MAX_TABLE_ROWS)) {
          fail(at('columns', ci), `column ${t.name}.${c.name}: bounds too wide, a sum over ${MAX_TABLE_ROWS} rows could wrap the 2^128 share ring`);
        }
      }
    });
    const keys = joinKeysOf(t);
    keys.forEach((k, ki) => {
      const key = columns.get(k.column);
      const where = Array.isArray(t.joinKey) ? at('joinKey', ki) : at('joinKey');
      if (!key) fail(where, `join key ${k.column} is not a column of ${t.name}`);
      else if (key.type !== 'string') fail(where, `join key ${t.name}.${key.name} must be a string column`);
      if (keys.findIndex((x) => x.column === k.column) !== ki) fail(where, `join key ${t.name}.${k.column} is listed twice`);
    });
    t.rules.dimensions.forEach((d, di) => {
      if (!columns.has(d)) fail(at('rules', 'dimensions', di), `dimension ${d} is not a column of ${t.name}`);
      if (keys.some((k) => k.column === d)) fail(at('rules', 'dimensions', di), `the join key ${t.name}.${d} can never be a dimension`);
    });
    t.rules.aggregations.forEach((a, ai) => {
      const c = columns.get(a.column);
      if (!c) fail(at('rules', 'aggregations', ai), `aggregation column ${a.column} is not a column of ${t.name}`);
      else if (!isNumeric(c)) fail(at('rules', 'aggregations', ai), `${t.name}.${a.column} is a ${c.type} column and cannot be summed; only integer and decimal columns can`);
    });
    t.rules.overlapDisclosure.forEach((g, i) => {
      known(typeof g === 'string' ? g : g.member, at('rules', 'overlapDisclosure', i));
      if (typeof g === 'string') return;
      g.filters.forEach((f, fi) => {
        if (!t.rules.dimensions.includes(f)) fail(at('rules', 'overlapDisclosure', i, 'filters', fi), `${f} is not a dimension of ${t.name}; a grant's filters are dimensions`);
      });
    });
    const privacy = t.rules.privacy;
    if (privacy && privacy.epsilon > privacy.budget.epsilon) {
      fail(at('rules', 'privacy', 'epsilon'), `${t.name}: one query's epsilon (${privacy.epsilon}) is more than the whole budget (${privacy.budget.epsilon})`);
    }
  });
});
