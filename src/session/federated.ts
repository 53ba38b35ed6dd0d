import type { GroupAggregate } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { federatedPhaseMembers, type FederatedPlan } from '../query/plan.js';
import { Release } from './release.js';
import { MultiMemberSession, type MultiStep } from './multi-step.js';

/**
 * A query over a federated table (SPEC §4.5): each holder aggregates its own part over every group of the
 * declared domain, splits each value into one additive share per holder and sends them out; each holder adds
 * what it holds, so it holds a share of the totals and of nothing else. Counts of the totals are opened to the
 * holders, groups under the minimum are dropped, and the surviving totals are opened to the receivers only.
 * Receivers that hold no part ("listeners") get the values and, from the first holder, the labels.
 */
export class FederatedSession extends MultiMemberSession {
  private readonly release: Release;
  private done = false;

  protected readonly queryId: string;

  constructor(private readonly r: { readonly queryId: string; readonly plan: FederatedPlan; readonly self: string }) {
    super();
    this.queryId = r.queryId;
    if (!this.members.includes(r.self)) throw new CleanroomError('INTERNAL', `${r.self} takes no part in this query`);
    const { holders, receivers, domain } = r.plan;
    // Holders know the domain and the survivors; a receiver holding no part learns the labels from the first holder.
    this.release = new Release({
      queryId: r.queryId,
      plan: r.plan,
      self: r.self,
      holders,
      dealers: holders,
      receivers,
      labelsFrom: holders[0]!,
      labelsTo: receivers.filter((x) => !holders.includes(x)),
      verifyCounts: false,
      domain,
    });
    this.release.start();
  }

  /** Holders, then the receivers that hold no part. */
  get members(): readonly string[] {
    return federatedPhaseMembers(this.r.plan);
  }

  get peers(): readonly string[] {
    return this.members.filter((m) => m !== this.r.self);
  }

  get isHolder(): boolean {
    return this.r.plan.holders.includes(this.r.self);
  }

  /** This holder's per-group aggregates over its own rows (groups absent from its part are zeros). */
  own(groups: readonly GroupAggregate[]): MultiStep {
    // A violation or abort that arrived while DuckDB aggregated has ended the session: its failure stands.
    if (this.ended) return { send: [] };
    return this.guard(() => this.released(this.release.deal(groups)));
  }

  protected get ended(): boolean {
    return this.done;
  }

  protected handle(from: string, msg: Exclude<SessionMessage, { type: 'abort' }>): MultiStep {
    switch (msg.type) {
      case 'shares':
      case 'open':
      case 'labels':
        return this.released(this.release.receive(from, msg));
      default:
        throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in a federated query`);
    }
  }

  protected finish(): void {
    this.done = true;
    this.release.end();
  }
}
