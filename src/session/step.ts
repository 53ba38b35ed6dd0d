import type { QueryResult } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import { CleanroomError, asCleanroomError, forPeer, peerCode, peerText } from '../errors.js';

type Abort = Extract<SessionMessage, { type: 'abort' }>;

/** How a query session ends on this node. */
export type Outcome =
  | { readonly kind: 'result'; readonly result: QueryResult }
  /** This node is not a receiver: its part is done and the values went to the receivers. */
  | { readonly kind: 'released'; readonly groups: number; readonly receivers: readonly string[] }
  | { readonly kind: 'failed'; readonly error: CleanroomError }
  /** A holder's PSI with the table a federated table is joined with: the indices of its keys that matched. */
  | { readonly kind: 'matched'; readonly matched: readonly number[] }
  /** The other side of that PSI: its part is done, it learned nothing but the holder's set size. */
  | { readonly kind: 'joined' };

/** What a state machine returns for every event: messages to send, in order, and possibly its outcome. */
export interface Step {
  readonly send: readonly SessionMessage[];
  /**
   * Peer batches to raise to this node's secret, in order. The driver answers each with `peerBlinded(result)`,
   * in the same order, or with `fail(err)` if the multiplication refused a point.
   */
  readonly blind?: readonly Uint8Array[];
  /** Aggregator only: the indices of its own keys that matched; the driver answers with `aggregates()`. */
  readonly aggregate?: readonly number[];
  readonly outcome?: Outcome;
}

export const NOTHING: Step = { send: [] };

/**
 * Converts a failure inside a transition into the abort that tells the peer, so that one side's failure
 * stops the query on both and nothing further is opened.
 */
export function failStep(queryId: string, err: unknown): Step {
  const error = asCleanroomError(err);
  return {
    send: [{ type: 'abort', queryId, ...forPeer(error) }],
    outcome: { kind: 'failed', error },
  };
}

export function peerAborted(abort: Abort): Step {
  return { send: [], outcome: { kind: 'failed', error: abortedBy('the peer', abort) } };
}

/** This node's error for a peer's abort: its code, the violation's reason if it names one, and its text made safe. */
export function abortedBy(who: string, abort: Abort): CleanroomError {
  const reason = abort.reason === undefined ? '' : ` (${abort.reason})`;
  return new CleanroomError('ABORTED', `${who} aborted the query: ${peerCode(abort.code)}${reason}: ${peerText(abort.message)}`);
}
