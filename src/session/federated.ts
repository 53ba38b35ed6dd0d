import type { GroupAggregate } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import type { PsiGroup } from '../crypto/group.js';
import type { QuerySecret } from '../crypto/secret.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { federatedPhaseMembers, type FederatedPlan, type TableSide } from '../query/plan.js';
import { AggregatorSession } from './aggregator.js';
import { PartnerSession } from './partner.js';
import { Release } from './release.js';
import { Session } from './session.js';
import { NOTHING, type Step } from './step.js';

export interface FederatedParams {
  readonly queryId: string;
  readonly plan: FederatedPlan;
  readonly self: string;
  /** A fresh secret for each two-party PSI this member runs (a federated table joined with another table). */
  readonly newSecret: () => QuerySecret;
  readonly group: PsiGroup;
}

/**
 * A query over a federated table (SPEC §4.5): each holder aggregates its own part over every group of the
 * declared domain, splits each value into one additive share per holder and sends them out; each holder adds
 * what it holds, so it holds a share of the totals and of nothing else. Counts of the totals are opened to the
 * holders, groups under the minimum are dropped, and the surviving totals are opened to the receivers only.
 * Receivers that hold no part ("listeners") get the values and, from the first holder, the labels.
 *
 * Joined with another member's table, each holder first runs a two-party PSI with that member (the holder as P,
 * learning which of its keys are in the other table) and aggregates only its matched rows; the other member runs
 * one PSI per holder on the same key stream, and takes part in the release only if it receives the result. The
 * PSIs are machines of their own inside this one: their messages are routed by sender and type, their blind
 * requests answered in the one request order.
 */
export class FederatedSession extends Session {
  /** The release among the holders and listeners; none for a joined member that receives nothing. */
  private readonly release: Release | undefined;
  /** Each two-party PSI this member runs, by the peer it runs it with. */
  private readonly psi = new Map<string, AggregatorSession | PartnerSession>();
  private readonly joinedPsis = new Set<string>();
  /** The PSI each outstanding blind request belongs to, oldest first. */
  private readonly requests: string[] = [];
  private readonly linked: readonly string[];

  constructor(private readonly r: FederatedParams) {
    super(r.queryId);
    const { plan, self } = r;
    const { holders, receivers, domain } = plan;
    const members = federatedPhaseMembers(plan);
    const joined = plan.others[0]?.table.owner;
    if (!members.includes(self) && self !== joined) throw new CleanroomError('INTERNAL', `${self} takes no part in this query`);
    if (joined !== undefined && holders.includes(self)) {
      this.psi.set(joined, new AggregatorSession({ queryId: r.queryId, plan, self, peer: joined, secret: r.newSecret(), group: r.group }));
    }
    if (self === joined) for (const h of holders) this.psi.set(h, new PartnerSession({ queryId: r.queryId, plan, self, peer: h, secret: r.newSecret(), group: r.group }));
    this.linked = [...new Set([...(members.includes(self) ? members : []), ...this.psi.keys()])].filter((m) => m !== self);
    if (members.includes(self)) {
      // Holders know the domain and the survivors; a receiver holding no part learns the labels from the first holder.
      this.release = new Release({
        queryId: r.queryId,
        plan,
        self,
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
  }

  get peers(): readonly string[] {
    return this.linked;
  }

  get side(): TableSide {
    return this.r.self === this.r.plan.others[0]?.table.owner ? this.r.plan.others[0] : this.r.plan.aggregator;
  }

  get keyed(): boolean {
    return this.psi.size > 0;
  }

  /** A holder of a federated table on its own aggregates every filtered row of its part (groups it lacks are zeros). */
  override start(): Step {
    return this.isHolder && !this.keyed ? { send: [], aggregate: 'all' } : NOTHING;
  }

  override ownKeyCount(keys: number): Step {
    return this.unlessEnded(() => this.everyPsi((m) => m.ownKeyCount(keys)));
  }

  /** Each PSI its own copy: the pool takes a batch's buffer to its worker, which would leave the others an empty view. */
  ownHashed(hashed: Uint8Array): Step {
    return this.unlessEnded(() => this.everyPsi((m) => m.ownHashed(Uint8Array.from(hashed))));
  }

  ownEnd(): Step {
    return this.unlessEnded(() => this.everyPsi((m) => m.ownEnd()));
  }

  blinded(result: Uint8Array): Step {
    return this.unlessEnded(() => {
      const peer = this.requests.shift();
      if (peer === undefined) throw new CleanroomError('INTERNAL', 'a blinded batch nobody asked for');
      return this.fromPsi(peer, this.psi.get(peer)!.blinded(result));
    });
  }

  /** This holder's per-group aggregates over its own (matched) rows. */
  override aggregates(groups: readonly GroupAggregate[]): Step {
    // A violation or abort that arrived while DuckDB aggregated has ended the session: its failure stands.
    return this.unlessEnded(() => {
      if (!this.isHolder) throw new CleanroomError('INTERNAL', 'aggregates nobody asked for');
      return this.released(this.release!.deal(groups));
    });
  }

  protected handle(from: string, msg: Exclude<SessionMessage, { type: 'abort' }>): Step {
    switch (msg.type) {
      case 'points':
      case 'points-end': {
        const psi = this.psi.get(from);
        if (!psi) throw new ProtocolViolation('unexpected-message', `${msg.type} from ${from}, which runs no PSI with ${this.r.self}`);
        return this.fromPsi(from, psi.receive(from, msg));
      }
      case 'shares':
      case 'open':
      case 'labels':
        if (!this.release) throw new ProtocolViolation('unexpected-message', `${msg.type} to a member that receives nothing`);
        return this.released(this.release.receive(from, msg));
      default:
        throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in a federated query`);
    }
  }

  private get isHolder(): boolean {
    return this.r.plan.holders.includes(this.r.self);
  }

  private everyPsi(event: (m: AggregatorSession | PartnerSession) => Step): Step {
    const steps = [...this.psi].map(([peer, m]) => this.fromPsi(peer, event(m)));
    return {
      send: steps.flatMap((s) => s.send),
      blind: steps.flatMap((s) => s.blind ?? []),
      ...(steps.find((s) => s.aggregate) ?? {}),
      ...(steps.find((s) => s.outcome) ?? {}),
    };
  }

  /**
   * A step of one PSI: its blind requests are queued under its peer; its failure fails the query (aborts to every
   * peer); a holder's matched keys are aggregated; a joined member's part ends with its last PSI unless it receives.
   */
  private fromPsi(peer: string, step: Step): Step {
    this.requests.push(...(step.blind ?? []).map(() => peer));
    const { send, blind } = step;
    const work = blind ? { send, blind } : { send };
    switch (step.outcome?.kind) {
      case undefined:
        return work;
      case 'failed':
        throw step.outcome.error;
      case 'matched':
        return { ...work, aggregate: step.outcome.matched };
      case 'joined':
        this.joinedPsis.add(peer);
        if (this.joinedPsis.size < this.psi.size || this.release) return work;
        // Not a receiver: its part ends with the PSIs, and it never learns how many groups were released.
        this.finish();
        return { ...work, outcome: { kind: 'released', groups: 0, receivers: this.r.plan.receivers } };
      default:
        throw new CleanroomError('INTERNAL', `a PSI ended with ${step.outcome!.kind}`);
    }
  }

  protected wipe(): void {
    this.release?.end();
    for (const m of this.psi.values()) m.end();
  }
}
