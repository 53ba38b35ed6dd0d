/**
 * Every message two nodes exchange, as zod schemas: the wire format of protocol/SPEC.md.
 * Frames are msgpack maps; byte strings are msgpack bin. Each inbound frame is parsed once,
 * at the socket, by one of the two discriminated unions below; nothing unparsed reaches protocol code.
 */
import { z } from 'zod';
import { ViolationReasonSchema } from '../errors.js';
import { MAX_GROUP_BY_COLUMNS, MAX_GROUPS, MAX_LABEL_CHARS, MAX_SQL_LENGTH, MAX_GROUP_WIDTH, MIN_GROUP_WIDTH, PSI_BATCH_KEYS } from '../limits.js';

export const PROTOCOL_VERSION = 4;

/**
 * A group element's size on the wire (SPEC §3). The wire may not import the group (src/crypto), which is its one
 * home: test/codec/points.test.ts holds the two equal.
 */
export const WIRE_POINT_BYTES = 32;

const bytes = (length?: number) =>
  z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected bytes' }).refine((b) => length === undefined || b.length === length, { message: `expected ${length} bytes` });
const memberId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);
const count = z.number().int().min(0).max(2 ** 32 - 1);
export const QueryId = z.string().regex(/^[0-9a-f]{32}$/, '16 random bytes as hex');
/** The query id of an abort sent before any proposal named a query (SPEC §6). */
export const NO_QUERY_ID = '0'.repeat(32);

// ---- Channel handshake (sent in clear, before any protocol message; SPEC §2) ----

export const Hello = z.strictObject({
  type: z.literal('hello'),
  version: z.literal(PROTOCOL_VERSION),
  collaborationId: memberId,
  manifestHash: bytes(32),
  /** The manifest's version number, so that two members on different versions are told which (SPEC §2). */
  manifestVersion: z.number().int().min(1).max(2 ** 32 - 1),
  member: memberId,
  /** Fresh X25519 public key of this connection: the channel keys come from it, so a recorded session cannot be replayed. */
  ephemeral: bytes(32),
});
export const Auth = z.strictObject({
  type: z.literal('auth'),
  /** Ed25519 over the transcript hash with the member's manifest key: binds identity to this channel. */
  signature: bytes(64),
});
export const HandshakeMessage = z.discriminatedUnion('type', [Hello, Auth]);

// ---- Query session (inside the encrypted channel; SPEC §4) ----

export const Propose = z.strictObject({
  type: z.literal('propose'),
  queryId: QueryId,
  querier: memberId,
  sql: z.string().min(1).max(MAX_SQL_LENGTH),
});
export const Accept = z.strictObject({ type: z.literal('accept'), queryId: QueryId });
/** Opens the connection between two non-querier members of an accepted join of three or more (SPEC §4.4). */
export const Join = z.strictObject({ type: z.literal('join'), queryId: QueryId });
/** `reason` names the rule of the protocol the receiver broke, when the code is PROTOCOL_VIOLATION (SPEC §6). */
const refusal = { queryId: QueryId, code: z.string().max(64), message: z.string().max(2000), reason: ViolationReasonSchema.optional() };
export const Reject = z.strictObject({ type: z.literal('reject'), ...refusal });
/**
 * The last frame of a connection closed on purpose: the sender's part of the query is over, so the close that
 * follows is no failure. Handled by the connection itself; protocol code never sees it.
 */
export const Bye = z.strictObject({ type: z.literal('bye') });
export const Abort = z.strictObject({ type: z.literal('abort'), ...refusal });

/** The three point streams of two-party PSI: q = H(q)^b, p = H(p)^a, pq = H(p)^ab. */
export const PointStage = z.enum(['q', 'p', 'pq']);
export const Points = z.strictObject({
  type: z.literal('points'),
  queryId: QueryId,
  stage: PointStage,
  /** Batches of a stage are numbered from 0 without gaps: a replayed or duplicated batch is refused. */
  seq: count,
  points: bytes().refine((b) => b.length > 0 && b.length % WIRE_POINT_BYTES === 0 && b.length <= PSI_BATCH_KEYS * WIRE_POINT_BYTES, {
    message: `a non-empty multiple of ${WIRE_POINT_BYTES} bytes, at most ${PSI_BATCH_KEYS} points`,
  }),
  /** Verified re-blinding (SPEC §4.2.1): a returned batch's RFC 9497 proof, c || s. */
  proof: bytes(64).optional(),
});
export const PointsEnd = z.strictObject({
  type: z.literal('points-end'),
  queryId: QueryId,
  stage: PointStage,
  batches: count,
  count,
});

/**
 * A count-only DP query's A = X25519(a, 9) from the aggregator, before its own points (SPEC §10.3): the partner
 * answers its dummy matches with it.
 */
export const DummyBase = z.strictObject({ type: z.literal('dummy-base'), queryId: QueryId, point: bytes(WIRE_POINT_BYTES) });

/**
 * Verified re-blinding (SPEC §4.2.1): the partner's B = k·G on edwards25519 for its secret, one per part of its set
 * (SPEC §4.6), before it returns any of the aggregator's points.
 */
export const ReblindKey = z.strictObject({ type: z.literal('reblind-key'), queryId: QueryId, keys: z.array(bytes(WIRE_POINT_BYTES)).min(1).max(MAX_GROUPS) });

/**
 * Sets travelling the ring of a join of three or more members (SPEC §4.4). `set` names the member whose keys the
 * points are, or `*` for the intersection the combiner returns; `stage` says whether the recipient is the next
 * blinding hop or the set's final destination (a member can receive the same set in both roles).
 */
const ringSet = z.union([memberId, z.literal('*')]);
const ringStage = z.enum(['hop', 'final']);
export const Ring = z.strictObject({
  type: z.literal('ring'),
  queryId: QueryId,
  set: ringSet,
  stage: ringStage,
  seq: count,
  points: bytes().refine((b) => b.length > 0 && b.length % WIRE_POINT_BYTES === 0 && b.length <= PSI_BATCH_KEYS * WIRE_POINT_BYTES, {
    message: `a non-empty multiple of ${WIRE_POINT_BYTES} bytes, at most ${PSI_BATCH_KEYS} points`,
  }),
});
export const RingEnd = z.strictObject({ type: z.literal('ring-end'), queryId: QueryId, set: ringSet, stage: ringStage, batches: count, count });

/** The aggregator's per-group values split into additive shares: this is the recipient's share. */
export const Shares = z.strictObject({
  type: z.literal('shares'),
  queryId: QueryId,
  groups: z.number().int().min(1).max(MAX_GROUPS),
  width: z.number().int().min(MIN_GROUP_WIDTH).max(MAX_GROUP_WIDTH),
  /** groups x width ring elements of 16 bytes, row-major. */
  values: bytes(),
});

/** A holder's shares of some values, opened to the recipient: counts to every holder, values to receivers. */
export const Open = z.strictObject({
  type: z.literal('open'),
  queryId: QueryId,
  stage: z.enum(['counts', 'values']),
  values: bytes(),
  /**
   * With a sole dealer's exact counts, which value vectors hold the groups that meet the minimum (SPEC §4.3): counts
   * and values are dealt in two unrelated orders, so a holder cannot tie a count to a released label.
   */
  positions: z.array(z.number().int().min(0).max(MAX_GROUPS - 1)).max(MAX_GROUPS).optional(),
});

type LabelCell = string | number | null;
const isLabelCell = (v: unknown): v is LabelCell => v === null || typeof v === 'number' || (typeof v === 'string' && v.length <= MAX_LABEL_CHARS);
/**
 * One group's labels, checked as a whole: a union per cell would make a frame of wrong cells cost an error object
 * per cell (160,000 in 190 KB, some 300 MB), one per group stays small.
 */
const labelRow = z.custom<LabelCell[]>((v) => Array.isArray(v) && v.length <= MAX_GROUP_BY_COLUMNS && v.every(isLabelCell), {
  message: `at most ${MAX_GROUP_BY_COLUMNS} labels, each a string of at most ${MAX_LABEL_CHARS} characters, a number or null`,
});

/** Group labels of the released groups, from the aggregator to result receivers only. */
export const Labels = z.strictObject({
  type: z.literal('labels'),
  queryId: QueryId,
  labels: z.array(labelRow).max(MAX_GROUPS),
});

/**
 * A member that works without sending (hashing its keys, blinding a set that leaves only whole) says every
 * KEEPALIVE_MS that it still makes progress, so that its peers' silence limit does not cut it off. Never reaches a
 * session machine.
 */
export const KeepAlive = z.strictObject({ type: z.literal('keepalive'), queryId: QueryId });
export const SessionMessage = z.discriminatedUnion('type', [Propose, Accept, Join, Reject, Abort, KeepAlive, Points, PointsEnd, DummyBase, ReblindKey, Ring, RingEnd, Shares, Open, Labels]);
/** What a connection decodes: every session message, and its own `bye`. */
export const WireMessage = z.discriminatedUnion('type', [Bye, Propose, Accept, Join, Reject, Abort, KeepAlive, Points, PointsEnd, DummyBase, ReblindKey, Ring, RingEnd, Shares, Open, Labels]);

export type Hello = z.infer<typeof Hello>;
export type Auth = z.infer<typeof Auth>;
export type HandshakeMessage = z.infer<typeof HandshakeMessage>;
export type WireMessage = z.infer<typeof WireMessage>;
export type SessionMessage = z.infer<typeof SessionMessage>;
export type Points = z.infer<typeof Points>;
export type PointStage = z.infer<typeof PointStage>;
export type Ring = z.infer<typeof Ring>;
