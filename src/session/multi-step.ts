import type { SessionMessage } from '../wire/messages.js';
import type { QuerySecret } from '../crypto/secret.js';
import { ProtocolViolation, asCleanroomError, forPeer } from '../errors.js';
import { type Outcome, abortedBy } from './step.js';

/** A message for one member of a query of several. */
export interface Envelope {
  readonly to: string;
  readonly msg: SessionMessage;
}

export interface BlindRequest {
  readonly points: Uint8Array;
  readonly secret: QuerySecret;
}

/** What a machine of a query of several members returns for every event. */
export interface MultiStep {
  readonly send: readonly Envelope[];
  /** Multiplications to run; answer each with `blinded(result)` in this order (or `fail`). */
  readonly blind?: readonly BlindRequest[];
  readonly aggregate?: readonly number[];
  readonly outcome?: Outcome;
}

/** Messages of a step first, then those of the step it led to (not named `then`: a module exporting `then` is a thenable). */
export function followedBy(first: readonly Envelope[], next: MultiStep): MultiStep {
  return { ...next, send: [...first, ...next.send] };
}

/** A failure inside a transition: the session ends here, and every peer is told. */
export function abortAll(peers: readonly string[], queryId: string, err: unknown): MultiStep {
  const error = asCleanroomError(err);
  const abort: SessionMessage = { type: 'abort', queryId, ...forPeer(error) };
  return { send: peers.map((to) => ({ to, msg: abort })), outcome: { kind: 'failed', error } };
}

/**
 * The checks every inbound message of a query of several passes first: from a member of the query, for this
 * query, not after the end. Returns the failed outcome of a peer's abort, which ends the session.
 */
export function admit(msg: SessionMessage, from: string, peers: readonly string[], queryId: string, ended: boolean): MultiStep | undefined {
  if (ended) throw new ProtocolViolation('after-end', `${msg.type} after the query ended`);
  if (!peers.includes(from)) throw new ProtocolViolation('unexpected-sender', `${from} takes no part in this query`);
  if (msg.queryId !== queryId) throw new ProtocolViolation('wrong-query', `message for query ${msg.queryId} in session ${queryId}`);
  if (msg.type !== 'abort') return undefined;
  return { send: [], outcome: { kind: 'failed', error: abortedBy(from, msg) } };
}

/**
 * What the machines of a query of several share: a failure inside any transition, or reported by the driver
 * (`fail`), wipes the role's per-query state and becomes an abort to every peer.
 */
export abstract class MultiMemberSession {
  protected abstract readonly queryId: string;
  abstract get peers(): readonly string[];

  /** Wipes the secrets and whatever per-query state the role holds. */
  protected abstract finish(): void;

  /** Whether the session has ended (every later message is a violation). */
  protected abstract get ended(): boolean;

  /** Role-specific transitions for every message but `abort`, once `receive` has admitted it. */
  protected abstract handle(from: string, msg: Exclude<SessionMessage, { type: 'abort' }>): MultiStep;

  /** A message from `from`, already authenticated as that member by the channel. */
  receive(from: string, msg: SessionMessage): MultiStep {
    return this.guard(() => {
      const aborted = admit(msg, from, this.peers, this.queryId, this.ended);
      if (msg.type !== 'abort') return this.handle(from, msg);
      this.finish();
      return aborted!;
    });
  }

  /** A failure outside the machine that ends the query, e.g. a worker refusing one of the peer's points. */
  fail(err: unknown): MultiStep {
    return this.guard(() => {
      throw err;
    });
  }

  /** A step of the release stage: its outcome ends the session. */
  protected released(step: MultiStep): MultiStep {
    if (step.outcome) this.finish();
    return step;
  }

  protected guard(f: () => MultiStep): MultiStep {
    try {
      return f();
    } catch (err) {
      this.finish();
      return abortAll(this.peers, this.queryId, err);
    }
  }
}
