import type { GroupAggregate } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import type { TableSide } from '../query/plan.js';
import { NOTHING, abortAll, abortedBy, type Machine, type Step } from './step.js';

/**
 * What every machine of a query session shares: each inbound message is checked first (from a member of the query,
 * for this query, not after the end), a peer's abort ends the session, and any failure inside a transition, or
 * reported by the driver (`fail`), wipes the role's per-query state and becomes an abort to every peer.
 */
export abstract class Session implements Machine {
  private over = false;

  /** `peerName` is how a peer's abort names it to this node's operator (a two-party query says "the peer"). */
  constructor(
    protected readonly queryId: string,
    private readonly peerName?: string,
  ) {}

  abstract get peers(): readonly string[];
  abstract get side(): TableSide;
  abstract get keyed(): boolean;
  abstract ownHashed(hashed: Uint8Array, part?: number): Step;
  abstract ownEnd(): Step;
  abstract blinded(result: Uint8Array): Step;

  /** Role-specific transitions for every message but `abort`, once `receive` has admitted it. */
  protected abstract handle(from: string, msg: Exclude<SessionMessage, { type: 'abort' }>): Step;

  /** Wipes the secrets and whatever per-query state the role holds. */
  protected abstract wipe(): void;

  start(): Step {
    return NOTHING;
  }

  /** Only a partner's streamed set needs its size before its first batch (SPEC §4.2 step 1). */
  ownKeyCount(_keys: number): Step {
    return NOTHING;
  }

  receive(from: string, msg: SessionMessage): Step {
    return this.guard(() => {
      if (this.over) throw new ProtocolViolation('after-end', `${msg.type} after the query ended`);
      if (!this.peers.includes(from)) throw new ProtocolViolation('unexpected-sender', `${from} takes no part in this query`);
      if (msg.queryId !== this.queryId) throw new ProtocolViolation('wrong-query', `message for query ${msg.queryId} in session ${this.queryId}`);
      if (msg.type !== 'abort') return this.handle(from, msg);
      this.finish();
      return { send: [], outcome: { kind: 'failed', error: abortedBy(this.peerName ?? from, msg) } };
    });
  }

  aggregates(_groups: readonly GroupAggregate[]): Step {
    return this.fail(new CleanroomError('INTERNAL', 'aggregates nobody asked for'));
  }

  fail(err: unknown): Step {
    return this.guard(() => {
      throw err;
    });
  }

  end(): void {
    this.finish();
  }

  /** Whether the session has ended (every later message is a violation). */
  protected get ended(): boolean {
    return this.over;
  }

  /** A step of the release stage: its outcome ends the session. */
  protected released(step: Step): Step {
    if (step.outcome) this.finish();
    return step;
  }

  protected finish(): void {
    this.over = true;
    this.wipe();
  }

  protected guard(f: () => Step): Step {
    try {
      return f();
    } catch (err) {
      this.finish();
      return abortAll(this.peers, this.queryId, err);
    }
  }

  /** An event of this member's own work: moot once the session ended (a peer's abort), else guarded. */
  protected unlessEnded(f: () => Step): Step {
    return this.over ? NOTHING : this.guard(f);
  }
}
