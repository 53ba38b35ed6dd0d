import { z } from 'zod';
import { ErrorCodeSchema } from '../errors.js';

/**
 * What the control interface answers, as newline-delimited JSON: progress, then a result, a release note or an
 * error. A refused request (authentication, Host, Origin, content type, path) is a single error as the body of a
 * non-200 response. Clients parse every event, so a code they do not know is never taken for one they do.
 */
export const ControlErrorSchema = z.strictObject({ type: z.literal('error'), code: ErrorCodeSchema, message: z.string() });

export const ControlEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('progress'), stage: z.enum(['queued', 'psi', 'aggregation']), ownKeys: z.number(), ahead: z.number().int().min(0).optional() }),
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
export const StatusSchema = z.strictObject({
  member: z.string(),
  collaboration: z.string(),
  manifestVersion: z.number().int(),
  backend: z.string(),
  workers: z.number().int(),
  peakRssMiB: z.number(),
});
export type NodeStatus = z.infer<typeof StatusSchema>;

/** POST /stop: the node takes no new query and stops once the running ones end, or after `graceMs` (`cleanroom stop`). */
export const StopAnswerSchema = z.strictObject({ stopping: z.literal(true), running: count, graceMs: count });
export type StopAnswer = z.infer<typeof StopAnswerSchema>;
