import { z } from 'zod';
import { ErrorCodeSchema } from '../errors.js';

/**
 * What the control interface answers, as newline-delimited JSON: progress, then a result, a release note or an
 * error. A refused request (authentication, Host, Origin, content type, path) is a single error as the body of a
 * non-200 response. Clients parse every event, so a code they do not know is never taken for one they do.
 */
export const ControlErrorSchema = z.strictObject({ type: z.literal('error'), code: ErrorCodeSchema, message: z.string() });

/** A query node's own work, in the order a query goes through it (src/node/progress.ts): never backwards. */
export const OWN_STEPS = ['proposing', 'reading', 'hashing', 'blinding-own', 'blinding-peer', 'matching', 'aggregating', 'releasing'] as const;
export type OwnStep = (typeof OWN_STEPS)[number];

/**
 * What a peer is doing, as far as the node can tell from the messages it received and sent: its own points arriving,
 * the node's points coming back blinded, its silence after the node's stream ended (it blinds or matches them), its
 * shares and openings.
 */
export const PEER_ACTIVITIES = ['waiting', 'sending-points', 'returning-points', 'blinding', 'matching', 'releasing'] as const;
export type PeerActivity = (typeof PEER_ACTIVITIES)[number];

const tally = z.number().int().nonnegative();
/** A running query's detail: the step, what it counts against its total where known, time taken and left. */
export const ProgressViewSchema = z.strictObject({
  step: z.enum(OWN_STEPS),
  elapsedMs: tally,
  done: tally.optional(),
  total: tally.optional(),
  etaMs: tally.optional(),
  peers: z.array(z.strictObject({ member: z.string(), activity: z.enum(PEER_ACTIVITIES), done: tally.optional(), total: tally.optional() })).readonly(),
});

export const ProgressEventSchema = z.strictObject({
  type: z.literal('progress'),
  /** The query's id from its first event on: what POST /query/<id>/cancel names. */
  queryId: z.string().optional(),
  stage: z.enum(['queued', 'proposing', 'psi', 'aggregation']),
  ownKeys: z.number(),
  ahead: z.number().int().min(0).optional(),
  view: ProgressViewSchema.optional(),
});
export type ProgressEvent = z.infer<typeof ProgressEventSchema>;

/** POST /query/<id>/cancel: whether a query of that id was running here and is now being aborted. */
export const CancelAnswerSchema = z.strictObject({ cancelled: z.boolean(), queryId: z.string() });
export type CancelAnswer = z.infer<typeof CancelAnswerSchema>;

export const ControlEventSchema = z.discriminatedUnion('type', [
  ProgressEventSchema,
  z.strictObject({ type: z.literal('result'), result: z.unknown() }),
  z.strictObject({ type: z.literal('released'), queryId: z.string(), groups: z.number(), receivers: z.array(z.string()).readonly() }),
  ControlErrorSchema,
]);
export type ControlEvent = z.infer<typeof ControlEventSchema>;
export type ControlError = z.infer<typeof ControlErrorSchema>;

const count = z.number().int().nonnegative();
/**
 * One line of a match report (POST /api/match, `cleanroom match`, the console's Tables page): this member's table
 * against one of a partner's, on their join keys.
 */
export const MatchLineSchema = z.strictObject({
  table: z.string(),
  key: z.string(),
  partnerTable: z.string(),
  partnerKey: z.string(),
  /** This member's distinct normalised keys in its table: its own data, exact. */
  ownKeys: count,
  /** Keys in both tables: a count-only query's answer, noisy under a privacy policy. */
  matched: count,
  /** The matched count's 95% interval under a policy. */
  interval: z.tuple([count, count]).optional(),
  /** The count-only query behind the line, in the audit log and the history. */
  queryId: z.string(),
});
export type MatchView = z.infer<typeof MatchLineSchema>;

/** GET /status: which node answers, and how it runs (`cleanroom status`). */
/** How far the background hashing of one join key of one own table is (`cleanroom status`, the log). */
const WarmStateSchema = z.strictObject({
  table: z.string(),
  key: z.string(),
  state: z.enum(['waiting', 'hashing', 'ready', 'failed']),
  /** Distinct keys in the cache so far, of `total` (known once the table was read). */
  done: z.number().int(),
  total: z.number().int().optional(),
});
export type WarmState = z.infer<typeof WarmStateSchema>;

export const StatusSchema = z.strictObject({
  member: z.string(),
  collaboration: z.string(),
  manifestVersion: z.number().int(),
  backend: z.string(),
  workers: z.number().int(),
  peakRssMiB: z.number(),
  /** The background hashing of each own table's join keys (src/node/cache-warmer.ts). */
  hashCache: z.array(WarmStateSchema),
});
export type NodeStatus = z.infer<typeof StatusSchema>;

/** POST /stop: the node takes no new query and stops once the running ones end, or after `graceMs` (`cleanroom stop`). */
export const StopAnswerSchema = z.strictObject({ stopping: z.literal(true), running: count, graceMs: count });
export type StopAnswer = z.infer<typeof StopAnswerSchema>;
