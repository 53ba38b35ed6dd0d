/**
 * One small hierarchy, stable codes. `peerFault` says whether the other node (rather than
 * this node, its data or its user) caused the failure, as lodestar does: it decides whether
 * an abort is reported as "peer misbehaved" or as a local problem.
 */
import { z } from 'zod';
import { MAX_PEER_TEXT_CHARS } from './limits.js';

export const ERROR_CODES = [
  'CONFIG_INVALID',
  'MANIFEST_INVALID',
  'MANIFEST_UNSIGNED',
  'QUERY_INVALID',
  'RULE_VIOLATION',
  'DATA_INVALID',
  'PROTOCOL_VIOLATION',
  'AUTH_FAILED',
  'LIMIT_EXCEEDED',
  'BUDGET_EXHAUSTED',
  'TIMEOUT',
  'ABORTED',
  /** This member's user cancelled the query (the querier's node, and every member its abort reaches). */
  'CANCELLED',
  'PEER_UNREACHABLE',
  'INTERNAL',
] as const;
/** Codes that arrive from outside this process (a peer, a worker, the control interface) are parsed with this. */
export const ErrorCodeSchema = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export class CleanroomError extends Error {
  readonly code: ErrorCode;
  readonly peerFault: boolean;
  /** The message depends on this node's data (a count, a size of its rows): peers are told the code only. */
  readonly dataDependent: boolean;

  constructor(code: ErrorCode, message: string, options: { peerFault?: boolean; cause?: unknown; dataDependent?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.peerFault = options.peerFault ?? false;
    this.dataDependent = options.dataDependent ?? false;
  }
}

/** A query that an analysis rule or the privacy model forbids: names the rule and what is allowed. */
export class RuleViolation extends CleanroomError {
  readonly rule: string;
  readonly allowed: string;

  /** `dataDependent`: the refusal tells of this node's own data, so a peer gets only the code (forPeer). */
  constructor(rule: string, problem: string, allowed: string, options: { dataDependent?: boolean } = {}) {
    super('RULE_VIOLATION', `${problem} (rule: ${rule}; allowed: ${allowed})`, options);
    this.rule = rule;
    this.allowed = allowed;
  }
}

/**
 * Why a peer's message broke the protocol (SPEC §6): stable, so tests, operators and the peer itself can tell
 * violations apart without reading their text, which stays free to change.
 */
export const VIOLATION_REASONS = [
  /** Not msgpack of the protocol's shape, or not a message its schema accepts (SPEC §2). */
  'malformed-frame',
  /** Beyond a protocol limit: a frame over MAX_FRAME_BYTES, a point stream over MAX_QUERY_KEYS. */
  'over-limit',
  /** A `queryId` other than the session's. */
  'wrong-query',
  /** After what the message belongs to ended: the proposal once answered, the session, its point stream. */
  'after-end',
  /** A message this member never receives in this query (its role, its place on the ring, a set of nobody). */
  'unexpected-message',
  /** From a member that has no such message to send to this one (no part in the query, not the previous hop). */
  'unexpected-sender',
  /** A message this member does receive, at another point of the flow. */
  'wrong-round',
  /** A message that comes once per sender (shares, an opening, labels, an end marker) came again. */
  'repeated-message',
  /** A point batch numbered below the next one due: replayed or duplicated. */
  'replayed-batch',
  /** A point batch numbered above the next one due: one was skipped. */
  'skipped-batch',
  /** An end marker or a returned stream whose batches or points disagree with what was sent or arrived. */
  'bad-count',
  /** Bytes that are not a whole number of points or ring elements. */
  'bad-length',
  /** A point that is not canonical, has small order, or that the multiplication refuses. */
  'invalid-point',
  /** Shares, openings or labels not shaped as the query's groups × columns. */
  'bad-share-shape',
  /** Count shares that do not reconstruct the counts the aggregator shared. */
  'shares-mismatch',
  /** A verified re-blinding's proof that does not verify for its batch (SPEC §4.2.1). */
  'bad-proof',
] as const;
/** A reason in a peer's abort is parsed with this: one it does not know makes the frame invalid. */
export const ViolationReasonSchema = z.enum(VIOLATION_REASONS);
export type ViolationReason = z.infer<typeof ViolationReasonSchema>;

/** The peer sent something the protocol does not allow at this point. */
export class ProtocolViolation extends CleanroomError {
  readonly reason: ViolationReason;

  constructor(reason: ViolationReason, message: string) {
    super('PROTOCOL_VIOLATION', message, { peerFault: true });
    this.reason = reason;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function asCleanroomError(err: unknown): CleanroomError {
  if (err instanceof CleanroomError) return err;
  return new CleanroomError('INTERNAL', errorMessage(err), { cause: err });
}

/** Codes whose messages describe this node's own data or setup, and may quote a value of it (DuckDB does). */
const LOCAL_ONLY: ReadonlySet<ErrorCode> = new Set(['DATA_INVALID', 'CONFIG_INVALID', 'INTERNAL']);

/**
 * What a peer may be told of an error: the code, a violation's reason, and the message unless the message could
 * quote this node's data (a cell value in a DuckDB conversion error, a label outside the declared values) or depends
 * on it (how many groups its matched rows form, how long their labels are). Those stay in the local log.
 */
export function forPeer(err: CleanroomError): { code: ErrorCode; message: string; reason?: ViolationReason } {
  const local = LOCAL_ONLY.has(err.code) || err.dataDependent;
  const message = local ? `the member's own data or setup could not serve the query (${err.code}); its operators see the details in its log` : err.message;
  // No `reason: undefined` key: msgpackr would encode it as an extension, which the peer's frame check refuses.
  return { code: err.code, message: message.slice(0, 2000), ...(err instanceof ProtocolViolation ? { reason: err.reason } : {}) };
}

/**
 * Text kept on one line and free of terminal escapes: control characters, line and paragraph separators and
 * bidirectional overrides are escaped, so whatever a log line carries (a peer's reason, its SQL, a file name)
 * can neither forge another line nor hide text from the operator reading it.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** A peer's free text (the reason in its abort or reject), capped and on one line, for this node's errors and log. */
export function peerText(text: string): string {
  return oneLine(text.length > MAX_PEER_TEXT_CHARS ? `${text.slice(0, MAX_PEER_TEXT_CHARS)}…` : text);
}

/** A peer's error code: one of ours, or ABORTED when it sent something else. */
export function peerCode(code: string): ErrorCode {
  const parsed = ErrorCodeSchema.safeParse(code);
  return parsed.success ? parsed.data : 'ABORTED';
}
