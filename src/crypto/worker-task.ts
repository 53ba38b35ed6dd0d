import { z } from 'zod';
import { CleanroomError, ErrorCodeSchema, ProtocolViolation, ViolationReasonSchema } from '../errors.js';
import type { BackendPreference } from './backend.js';

/** What the main thread asks a crypto worker to do. Secrets travel per task and are wiped by the worker after use. */
export type CryptoTask =
  | { readonly op: 'hash'; readonly backend: BackendPreference; readonly keys: Uint8Array; readonly ends: Uint32Array; readonly dst: Uint8Array }
  | { readonly op: 'blind'; readonly backend: BackendPreference; readonly secret: Uint8Array; readonly points: Uint8Array };

/**
 * Errors cross the thread boundary as data, so their code, fault and reason survive (a thrown Error would lose
 * them); the main thread parses what comes back rather than trusting a cast.
 */
export const CryptoFailure = z.strictObject({
  ok: z.literal(false),
  code: ErrorCodeSchema,
  message: z.string(),
  peerFault: z.boolean(),
  reason: ViolationReasonSchema.optional(),
});
export type CryptoResult = { readonly ok: true; readonly bytes: Uint8Array } | z.infer<typeof CryptoFailure>;

/** The failure a worker reported, as the error it was on the worker's side. */
export function failureError(result: unknown): CleanroomError {
  const parsed = CryptoFailure.safeParse(result);
  if (!parsed.success) return new CleanroomError('INTERNAL', `a crypto worker answered with something else than a result: ${z.prettifyError(parsed.error).slice(0, 300)}`);
  const f = parsed.data;
  if (f.code === 'PROTOCOL_VIOLATION' && f.reason) return new ProtocolViolation(f.reason, f.message);
  return new CleanroomError(f.code, f.message, { peerFault: f.peerFault });
}

/** What a worker sends back for an error it caught. */
export function failureOf(e: CleanroomError): z.infer<typeof CryptoFailure> {
  return { ok: false, code: e.code, message: e.message, peerFault: e.peerFault, ...(e instanceof ProtocolViolation ? { reason: e.reason } : {}) };
}

/** Keys as one byte string plus the end offset of each: one transferable buffer instead of thousands of strings. */
export function packKeys(keys: readonly string[]): { keys: Uint8Array; ends: Uint32Array } {
  const enc = new TextEncoder();
  const parts = keys.map((k) => enc.encode(k));
  const ends = new Uint32Array(parts.length);
  let total = 0;
  parts.forEach((p, i) => (ends[i] = total += p.length));
  const bytes = new Uint8Array(total);
  parts.forEach((p, i) => bytes.set(p, i === 0 ? 0 : ends[i - 1]));
  return { keys: bytes, ends };
}

export function unpackKeys(keys: Uint8Array, ends: Uint32Array): Uint8Array[] {
  return Array.from(ends, (end, i) => keys.subarray(i === 0 ? 0 : ends[i - 1], end));
}
