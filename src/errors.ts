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
  'TIMEOUT',
  'ABORTED',
  'PEER_UNREACHABLE',
  'INTERNAL',
] as const;
/** Codes that arrive from outside this process (a peer, a worker, the control interface) are parsed with this. */
export const ErrorCodeSchema = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export class CleanroomError extends Error {
  readonly code: ErrorCode;
  readonly peerFault: boolean;

  constructor(code: ErrorCode, message: string, options: { peerFault?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.peerFault = options.peerFault ?? false;
  }
}

/** A query that an analysis rule or the privacy model forbids: names the rule and what is allowed. */
export class RuleViolation extends CleanroomError {
  readonly rule: string;
  readonly allowed: string;

  constructor(rule: string, problem: string, allowed: string) {
    super('RULE_VIOLATION', `${problem} (rule: ${rule}; allowed: ${allowed})`);
    this.rule = rule;
    this.allowed = allowed;
  }
}

/** The peer sent something the protocol does not allow at this point. */
export class ProtocolViolation extends CleanroomError {
  constructor(message: string) {
    super('PROTOCOL_VIOLATION', message, { peerFault: true });
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
 * What a peer may be told of an error: the code, and the message unless the message could quote this node's data
 * (a cell value in a DuckDB conversion error, a label outside the declared values). Those stay in the local log.
 */
export function forPeer(err: CleanroomError): { code: ErrorCode; message: string } {
  const message = LOCAL_ONLY.has(err.code) ? `the member's own data or setup could not serve the query (${err.code}); its operators see the details in its log` : err.message;
  return { code: err.code, message: message.slice(0, 2000) };
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
