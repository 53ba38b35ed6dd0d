import type { GroupAggregate, QueryResult } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import type { QuerySecret } from '../crypto/secret.js';
import type { ReblindCheck } from '../crypto/verified-reblind.js';
import type { TableSide } from '../query/plan.js';
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

/** A message for one member of the query. */
export interface Envelope {
  readonly to: string;
  readonly msg: SessionMessage;
}

/** A multiplication the machine needs: these points raised to this secret. */
export interface BlindRequest {
  readonly points: Uint8Array;
  readonly secret: QuerySecret;
  /**
   * Padding of a key set (SPEC §10.2): ascending indices of the result that hold X25519(r, 9), r drawn fresh for each
   * by whoever multiplies and wiped there; `points`, raised to `secret`, fill the other indices in order.
   */
  readonly padding?: Uint32Array;
  /**
   * Verified re-blinding (SPEC §4.2.1): the partner raises `points` on edwards25519 instead and proves it in this RFC
   * 9497 context; the result is the raised points, compressed, then the proof (verified-reblind.ts `proveReblind`).
   */
  readonly prove?: Uint8Array;
}

/** What a state machine returns for every event: messages to send, in order, work to do, and possibly its outcome. */
export interface Step {
  readonly send: readonly Envelope[];
  /** Multiplications to run; the driver answers each with `blinded(result)`, strictly in request order (or `fail`). */
  readonly blind?: readonly BlindRequest[];
  /**
   * Verified re-blinding (SPEC §4.2.1): returned batches for the aggregator to check, each answered in the same queue,
   * after this step's `blind` requests, with `blinded(the u-coordinates to match)` (verified-reblind.ts `checkReblind`).
   */
  readonly check?: readonly ReblindCheck[];
  /** This member's per-group aggregates over the rows of these own key indices (or all its rows); answered with `aggregates`. */
  readonly aggregate?: readonly number[] | 'all';
  /** SPEC §4.6: with `aggregate`, the part of the partner's set each of its indices matched in (an index may repeat). */
  readonly parts?: readonly number[];
  readonly outcome?: Outcome;
}

/** What the driver does with a machine: every event in, one step out. */
export interface Machine {
  /** The members this one exchanges messages with. */
  readonly peers: readonly string[];
  /** This member's table: its own keys (when `keyed`) and its aggregates come from it. */
  readonly side: TableSide;
  /** Whether the machine takes this member's key stream (`ownHashed`, then `ownEnd`). */
  readonly keyed: boolean;
  start(): Step;
  /** How many distinct keys this member's key stream holds (of its whole filtered set), before the first of them. */
  ownKeyCount(keys: number): Step;
  /** A batch of this member's own H(k), in the order of its key stream; of one part of it (SPEC §4.6) when it has parts. */
  ownHashed(hashed: Uint8Array, part?: number): Step;
  ownEnd(): Step;
  /** A message from `from`, already authenticated as that member by the channel. */
  receive(from: string, msg: SessionMessage): Step;
  /** The result of the oldest outstanding blind request. */
  blinded(result: Uint8Array): Step;
  /** The answer to `aggregate`. */
  aggregates(groups: readonly GroupAggregate[]): Step;
  /** A failure outside the machine that ends the query, e.g. a worker refusing one of the peer's points. */
  fail(err: unknown): Step;
  /** The driver ended the query (e.g. a connection failed): wipe every secret and per-query state. */
  end(): void;
}

export const NOTHING: Step = { send: [] };

/** Messages of a step first, then those of the step it led to (not named `then`: a module exporting `then` is a thenable). */
export function followedBy(first: readonly Envelope[], next: Step): Step {
  return { ...next, send: [...first, ...next.send] };
}

/**
 * A failure inside a transition: the session ends here and every peer is told, so that one member's failure stops
 * the query everywhere and nothing further is opened.
 */
export function abortAll(peers: readonly string[], queryId: string, err: unknown): Step {
  const error = asCleanroomError(err);
  const abort: SessionMessage = { type: 'abort', queryId, ...forPeer(error) };
  return { send: peers.map((to) => ({ to, msg: abort })), outcome: { kind: 'failed', error } };
}

/** This node's error for a peer's abort: its code, the violation's reason if it names one, and its text made safe. */
export function abortedBy(who: string, abort: Abort): CleanroomError {
  const reason = abort.reason === undefined ? '' : ` (${abort.reason})`;
  return new CleanroomError('ABORTED', `${who} aborted the query: ${peerCode(abort.code)}${reason}: ${peerText(abort.message)}`);
}
