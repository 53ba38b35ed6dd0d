/**
 * One small hierarchy, stable codes. `peerFault` says whether the other node (rather than
 * this node, its data or its user) caused the failure, as lodestar does: it decides whether
 * an abort is reported as "peer misbehaved" or as a local problem.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNSIGNED'
  | 'QUERY_INVALID'
  | 'RULE_VIOLATION'
  | 'DATA_INVALID'
  | 'PROTOCOL_VIOLATION'
  | 'AUTH_FAILED'
  | 'LIMIT_EXCEEDED'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'PEER_UNREACHABLE'
  | 'INTERNAL';

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
