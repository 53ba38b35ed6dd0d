import { z } from 'zod';
import { CleanroomError, ErrorCodeSchema, ProtocolViolation, ViolationReasonSchema } from '../errors.js';
import type { BackendPreference } from './backend.js';
import { POINT_BYTES, type PsiGroup } from './group.js';
import { QuerySecret } from './secret.js';
import type { ReblindCheck } from './verified-reblind.js';

/**
 * What the main thread asks a crypto worker to do. Secrets travel per task and are wiped by the worker after use; a
 * blind task's `padding` says where its result holds padding points (`blindPadded`), none when empty.
 */
export type CryptoTask =
  | { readonly op: 'hash'; readonly backend: BackendPreference; readonly keys: Uint8Array; readonly ends: Uint32Array; readonly dst: Uint8Array }
  | { readonly op: 'blind'; readonly backend: BackendPreference; readonly secret: Uint8Array; readonly points: Uint8Array; readonly padding: Uint32Array }
  /** Verified re-blinding (SPEC §4.2.1): the partner's raised batch and its proof, the aggregator's check of it. */
  | { readonly op: 'prove'; readonly backend: BackendPreference; readonly secret: Uint8Array; readonly points: Uint8Array; readonly context: Uint8Array }
  | ({ readonly op: 'check'; readonly backend: BackendPreference } & ReblindCheck);

/**
 * X25519(r, 9) for an r drawn here and wiped at once: a uniform element of the group that under DDH looks like any
 * blinded key, and matches nothing. It costs one multiplication by the same ladder as blinding a key.
 */
export function freshPoint(group: PsiGroup): Uint8Array {
  const r = QuerySecret.generate();
  try {
    return group.blind(r, group.basePoint);
  } finally {
    r.zero();
  }
}

/**
 * What a blind task computes: `points` raised to `secret`, with a fresh point (`freshPoint`) at each index of `padding`
 * (ascending, within the result) and the raised points at the others, in order. The padding of a key set (SPEC §10.2)
 * is made in the same task as the keys beside it, one multiplication each, so that it costs the same work in the same
 * place as a key, and its scalars never leave the thread that draws them.
 */
export function blindPadded(group: PsiGroup, secret: QuerySecret, points: Uint8Array, padding: Uint32Array): Uint8Array {
  if (padding.length === 0) return group.blind(secret, points);
  const raised = points.length > 0 ? group.blind(secret, points) : points;
  const total = raised.length / POINT_BYTES + padding.length;
  const out = new Uint8Array(total * POINT_BYTES);
  let next = 0;
  let from = 0;
  for (let i = 0; i < total; i++) {
    if (padding[next] === i) {
      out.set(freshPoint(group), i * POINT_BYTES);
      next += 1;
    } else {
      if (from === raised.length) break;
      out.set(raised.subarray(from, from + POINT_BYTES), i * POINT_BYTES);
      from += POINT_BYTES;
    }
  }
  // An index out of order or out of range would have put a key where padding was asked for: the machine's own bug.
  if (next !== padding.length || from !== raised.length) throw new CleanroomError('INTERNAL', `padding indices that do not fit a result of ${total} points`);
  return out;
}

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
