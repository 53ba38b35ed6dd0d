import type { SessionMessage } from '../wire/messages.js';
import type { QuerySecret } from '../crypto/secret.js';
import { ProtocolViolation } from '../errors.js';
import type { QueryPlan } from '../query/plan.js';
import type { MultiStep } from './multi-step.js';
import { Release } from './release.js';
import { type Step, failStep, peerAborted } from './step.js';

export interface SessionParams {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly self: string;
  readonly peer: string;
  /** Zeroed by the machine when its last multiplication is done; the driver multiplies with it until then. */
  readonly secret: QuerySecret;
}

/** The release stage of a two-party query: P deals to both, checks the counts it computed, and sends Q the labels. */
export function pairRelease(p: SessionParams, aggregator: string): Release {
  const holders = [aggregator, aggregator === p.self ? p.peer : p.self];
  const receivers = p.plan.receivers.filter((r) => holders.includes(r));
  return new Release({
    queryId: p.queryId,
    plan: p.plan,
    self: p.self,
    holders,
    dealers: [aggregator],
    receivers,
    labelsFrom: aggregator,
    labelsTo: receivers.filter((r) => r !== aggregator),
    verifyCounts: true,
  });
}

/**
 * What both roles share: a message for another query or after the end is a violation, the peer's abort ends the
 * session, and any failure inside a transition becomes an abort to the peer with the secret and the shares wiped.
 */
export abstract class Session {
  protected ended = false;

  constructor(protected readonly p: SessionParams) {}

  receive(msg: SessionMessage): Step {
    return this.guard(() => {
      if (this.ended) throw new ProtocolViolation('after-end', `${msg.type} after the query ended`);
      if (msg.queryId !== this.p.queryId) throw new ProtocolViolation('wrong-query', `message for query ${msg.queryId} in session ${this.p.queryId}`);
      if (msg.type === 'abort') {
        this.finish();
        return peerAborted(msg);
      }
      return this.handle(msg);
    });
  }

  /** A failure outside the machine that ends the query, e.g. a worker refusing one of the peer's points. */
  fail(err: unknown): Step {
    return this.guard(() => {
      throw err;
    });
  }

  /** Role-specific transitions for every message but `abort`. */
  protected abstract handle(msg: Exclude<SessionMessage, { type: 'abort' }>): Step;

  /** A step of the release stage: every envelope goes to the one peer, and its outcome ends the session. */
  protected released(step: MultiStep): Step {
    if (step.outcome) this.finish();
    return { send: step.send.map((e) => e.msg), ...(step.outcome ? { outcome: step.outcome } : {}) };
  }

  /** Wipes the secret and whatever per-query state the role holds. */
  protected finish(): void {
    this.ended = true;
    this.p.secret.zero();
  }

  protected guard(f: () => Step): Step {
    try {
      return f();
    } catch (err) {
      this.finish();
      return failStep(this.p.queryId, err);
    }
  }
}
