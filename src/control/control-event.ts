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
