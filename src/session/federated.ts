import { type GroupAggregate, type Cell, KEYS, assembleResult, groupWidth, releasedColumns } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import { addShares, decodeRingElements, encodeRingElements, reconstruct, share } from '../crypto/shares.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { MAX_LABEL_CHARS } from '../limits.js';
import { federatedPhaseMembers, type FederatedPlan } from '../query/plan.js';
import { assertLabelsFit, survivingGroups } from './release.js';
import { MultiMemberSession, followedBy, type Envelope, type MultiStep } from './multi-step.js';

/**
 * A query over a federated table (SPEC §4.5): each holder aggregates its own part over every group of the
 * declared domain, splits each value into one additive share per holder and sends them out; each holder adds
 * what it holds, so it holds a share of the totals and of nothing else. Counts of the totals are opened to the
 * holders, groups under the minimum are dropped, and the surviving totals are opened to the receivers only.
 * Receivers that hold no part ("listeners") get the values and, from the first holder, the labels.
 */
export class FederatedSession extends MultiMemberSession {
  private readonly holders: readonly string[];
  private readonly receivers: readonly string[];
  private readonly domain: readonly (readonly Cell[])[];
  private phase: 'local' | 'shares' | 'counts' | 'values' | 'done' = 'local';
  private total: bigint[][] = [];
  private readonly shares = new Map<string, bigint[]>();
  /** Holders whose shares arrived, kept after they are added up: a second batch is a violation, not a no-op. */
  private readonly sharedBy = new Set<string>();
  private readonly counts = new Map<string, bigint[]>();
  private readonly values = new Map<string, bigint[]>();
  private labels: readonly (readonly Cell[])[] | undefined;
  private survivors: number[] | undefined;

  protected readonly queryId: string;

  constructor(private readonly r: { readonly queryId: string; readonly plan: FederatedPlan; readonly self: string }) {
    super();
    this.queryId = r.queryId;
    this.holders = r.plan.holders;
    this.receivers = r.plan.receivers;
    this.domain = r.plan.domain;
    assertLabelsFit(this.domain);
    if (!this.members.includes(r.self)) throw new CleanroomError('INTERNAL', `${r.self} takes no part in this query`);
    if (!this.isHolder) this.phase = 'values';
  }

  /** Holders, then the receivers that hold no part. */
  get members(): readonly string[] {
    return federatedPhaseMembers(this.r.plan);
  }

  get peers(): readonly string[] {
    return this.members.filter((m) => m !== this.r.self);
  }

  get isHolder(): boolean {
    return this.holders.includes(this.r.self);
  }

  /** This holder's per-group aggregates over its own rows (groups absent from its part are zeros). */
  own(groups: readonly GroupAggregate[]): MultiStep {
    // A violation or abort that arrived while DuckDB aggregated has ended the session: its failure stands.
    if (this.ended) return { send: [] };
    return this.guard(() => {
      if (this.phase !== 'local' || !this.isHolder) throw new CleanroomError('INTERNAL', 'own aggregates outside the local phase');
      const width = groupWidth(this.r.plan);
      const index = new Map(this.domain.map((labels, i) => [JSON.stringify(labels), i]));
      const vectors = this.domain.map(() => new Array<bigint>(width).fill(0n));
      for (const g of groups) {
        const i = index.get(JSON.stringify(g.labels));
        if (i === undefined) throw new CleanroomError('DATA_INVALID', `group ${JSON.stringify(g.labels)} is not among the declared values`);
        if (g.values.length !== width) throw new CleanroomError('INTERNAL', `group vector of ${g.values.length} values, ${width} expected`);
        vectors[i] = [...g.values];
      }
      const parts = this.holders.map(() => [] as bigint[]);
      for (const v of vectors.flat()) share(v, this.holders.length).forEach((s, j) => parts[j]!.push(s));
      const mine = this.holders.indexOf(this.r.self);
      this.total = chunk(parts[mine]!, width);
      this.phase = 'shares';
      const send: Envelope[] = this.holders.flatMap((to, j) =>
        to === this.r.self ? [] : [{ to, msg: { type: 'shares', queryId: this.r.queryId, groups: this.domain.length, width, values: encodeRingElements(parts[j]!) } } as Envelope],
      );
      return followedBy(send, this.afterShares());
    });
  }

  protected get ended(): boolean {
    return this.phase === 'done';
  }

  protected handle(from: string, msg: Exclude<SessionMessage, { type: 'abort' }>): MultiStep {
    switch (msg.type) {
      case 'shares': {
        // SPEC §4.5: each holder sends each other holder its share, once.
        if (!this.isHolder) throw new ProtocolViolation('unexpected-message', `unexpected shares from ${from}: ${this.r.self} holds no part`);
        if (!this.holders.includes(from)) throw new ProtocolViolation('unexpected-sender', `unexpected shares from ${from}, which holds no part`);
        if (this.sharedBy.has(from)) throw new ProtocolViolation('repeated-message', `${from} sent its shares twice`);
        this.sharedBy.add(from);
        if (msg.groups !== this.domain.length || msg.width !== groupWidth(this.r.plan)) throw new ProtocolViolation('bad-share-shape', `shares of ${msg.groups} x ${msg.width}, expected ${this.domain.length} x ${groupWidth(this.r.plan)}`);
        const v = decodeRingElements(msg.values);
        if (v.length !== msg.groups * msg.width) throw new ProtocolViolation('bad-share-shape', `${v.length} shares for ${msg.groups} groups of ${msg.width}`);
        this.shares.set(from, v);
        return this.afterShares();
      }
      case 'open':
        return this.onOpen(from, msg.stage, decodeRingElements(msg.values));
      case 'labels':
        // SPEC §4.5: the first holder sends the labels to receivers that hold no part.
        if (from !== this.holders[0]) throw new ProtocolViolation('unexpected-sender', `unexpected labels from ${from}, which is not the first holder`);
        if (this.isHolder || !this.receivers.includes(this.r.self)) throw new ProtocolViolation('unexpected-message', `unexpected labels from ${from}: ${this.r.self} holds a part or receives nothing`);
        if (this.labels) throw new ProtocolViolation('repeated-message', `${from} sent the labels twice`);
        this.labels = msg.labels;
        return this.afterValues();
      default:
        throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in a federated query`);
    }
  }

  private afterShares(): MultiStep {
    if (this.phase !== 'shares' || this.shares.size < this.holders.length - 1) return { send: [] };
    const width = groupWidth(this.r.plan);
    for (const v of this.shares.values()) this.total = chunk(addShares(this.total.flat(), v), width);
    this.shares.clear();
    this.phase = 'counts';
    const values = encodeRingElements(this.total.map((v) => v[KEYS]!));
    const send: Envelope[] = this.holders.filter((h) => h !== this.r.self).map((to) => ({ to, msg: { type: 'open', queryId: this.r.queryId, stage: 'counts', values } }));
    return followedBy(send, this.afterCounts());
  }

  private onOpen(from: string, stage: 'counts' | 'values', v: bigint[]): MultiStep {
    if (!this.holders.includes(from)) throw new ProtocolViolation('unexpected-sender', `${from} holds no part and opens nothing`);
    const store = stage === 'counts' ? this.counts : this.values;
    if (store.has(from)) throw new ProtocolViolation('repeated-message', `${from} opened its ${stage} twice`);
    if (stage === 'counts' && !this.isHolder) throw new ProtocolViolation('unexpected-message', 'counts are opened to holders only');
    if (stage === 'values' && !this.receivers.includes(this.r.self)) throw new ProtocolViolation('unexpected-message', `${this.r.self} is not a result receiver`);
    store.set(from, v);
    return stage === 'counts' ? this.afterCounts() : this.afterValues();
  }

  private afterCounts(): MultiStep {
    if (this.phase !== 'counts' || this.counts.size < this.holders.length - 1) return { send: [] };
    for (const [from, v] of this.counts) if (v.length !== this.domain.length) throw new ProtocolViolation('bad-share-shape', `${from} opened ${v.length} counts for ${this.domain.length} groups`);
    const totals = this.total.map((v, g) => reconstruct([v[KEYS]!, ...[...this.counts.values()].map((c) => c[g]!)]));
    this.survivors = survivingGroups(totals, this.r.plan);
    const cols = releasedColumns(this.r.plan);
    const values = encodeRingElements(this.survivors.flatMap((g) => cols.map((c) => this.total[g]![c]!)));
    const labels = this.survivors.map((g) => [...this.domain[g]!]);
    if (labels.flat().some((l) => typeof l === 'string' && l.length > MAX_LABEL_CHARS)) throw new CleanroomError('LIMIT_EXCEEDED', `a GROUP BY value is longer than ${MAX_LABEL_CHARS} characters`);
    const send: Envelope[] = [];
    for (const to of this.receivers.filter((x) => x !== this.r.self)) {
      send.push({ to, msg: { type: 'open', queryId: this.r.queryId, stage: 'values', values } });
      // Holders know the domain and the survivors; a receiver holding no part learns the labels from the first holder.
      if (this.r.self === this.holders[0] && !this.holders.includes(to)) send.push({ to, msg: { type: 'labels', queryId: this.r.queryId, labels } });
    }
    this.phase = 'values';
    this.labels = labels;
    if (!this.receivers.includes(this.r.self)) {
      this.finish();
      return { send, outcome: { kind: 'released', groups: this.survivors.length, receivers: this.receivers } };
    }
    return followedBy(send, this.afterValues());
  }

  private afterValues(): MultiStep {
    const expected = this.holders.filter((h) => h !== this.r.self).length;
    if (this.phase !== 'values' || this.values.size < expected || !this.labels) return { send: [] };
    const cols = releasedColumns(this.r.plan);
    const groups = this.labels.length;
    if (this.survivors && this.survivors.length !== groups) throw new ProtocolViolation('bad-share-shape', `${groups} labels for ${this.survivors.length} released groups`);
    for (const [from, v] of this.values) if (v.length !== groups * cols.length) throw new ProtocolViolation('bad-share-shape', `${from} opened ${v.length} values for ${groups} groups`);
    const own = this.survivors ? this.survivors.map((g) => cols.map((c) => this.total[g]![c]!)) : undefined;
    const opened = Array.from({ length: groups }, (_, i) =>
      cols.map((_, j) => reconstruct([...(own ? [own[i]![j]!] : []), ...[...this.values.values()].map((v) => v[i * cols.length + j]!)])),
    );
    const result = assembleResult(this.r.queryId, this.r.plan, this.labels, opened);
    this.finish();
    return { send: [], outcome: { kind: 'result', result } };
  }

  protected finish(): void {
    this.phase = 'done';
    this.total = [];
  }

}

function chunk(values: readonly bigint[], width: number): bigint[][] {
  return Array.from({ length: values.length / width }, (_, i) => values.slice(i * width, (i + 1) * width));
}

