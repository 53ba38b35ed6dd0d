import { afterRelease } from '../query/after-release.js';
import { KEYS, groupWidth, releasedSlots } from '../query/group-vector.js';
import { type Cell, type GroupAggregate, assembleResult } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import { RING_BITS, addShares, decodeRingElements, encodeRingElements, reconstruct, share } from '../crypto/shares.js';
import { shuffleInPlace } from '../crypto/shuffle.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { MAX_FRAME_BYTES, MAX_GROUPS, MAX_LABEL_CHARS } from '../limits.js';
import type { QueryPlan } from '../query/plan.js';
import { dealerChecksShares, noiseAdders, noiseBounds, noisePlan, type NoisePlan } from '../query/noise.js';
import { osRandom, type RandomSource } from '../dp/random-source.js';
import { sampleNoise } from '../dp/mechanism.js';
import { followedBy, type Envelope, type Step } from './step.js';

/** The messages of the release stage (SPEC §4.3): the machine of each flow hands them to its `Release`. */
export type ReleaseMessage = Extract<SessionMessage, { type: 'shares' | 'open' | 'labels' }>;

type Labels = readonly (readonly Cell[])[];

/** 2^100: far beyond any count (tables hold at most 2^40 rows), and a few of them far within the 2^127 of the ring. */
const VETO = 1n << 100n;

export interface ReleaseParams {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly self: string;
  /** The members that hold a share of every value, in the order the shares of one value are dealt. */
  readonly holders: readonly string[];
  /** The holders that deal their own values; the others only receive shares. */
  readonly dealers: readonly string[];
  /** The result receivers that take part in this query: the only ones that are sent value shares. */
  readonly receivers: readonly string[];
  /** The member that sends the labels of the surviving groups, and the receivers that learn them only from it. */
  readonly labelsFrom: string;
  readonly labelsTo: readonly string[];
  /** A sole dealer computed the counts itself: count shares that reconstruct anything else are a lie. */
  readonly verifyCounts: boolean;
  /** Every group that can exist, known to every holder (a federated table); without it the dealer's groups are the groups. */
  readonly domain?: Labels;
  /**
   * Every group that can exist, known to the sole dealer only (declared values, SPEC §4.3): it deals all of them,
   * zeros included, so the other holders learn how many there can be and nothing of which ones have rows.
   */
  readonly padTo?: Labels;
  /** Where a DP query's noise comes from: the OS CSPRNG unless a test fixes it. */
  readonly random?: RandomSource;
}

/**
 * Groups whose distinct-key count meets the strictest minimum-count rule: the only ones ever opened. With noise the
 * counts are noisy, possibly of matched rows, and the bar is the noise plan's threshold (SPEC §10.2).
 */
export function survivingGroups(counts: readonly bigint[], plan: QueryPlan, noise?: NoisePlan): number[] {
  const min = noise ? noise.threshold : BigInt(plan.minDistinctKeys);
  return counts.flatMap((n, i) => (n >= min ? [i] : []));
}

/**
 * The labels of all groups must fit one `labels` frame (msgpack: a few bytes per value beyond its text). Checked
 * before anything is shared, so that every receiver gets the result or none does.
 */
export function assertLabelsFit(labels: Labels): void {
  let bytes = 16;
  for (const row of labels) {
    bytes += 3;
    for (const l of row) bytes += typeof l === 'string' ? Buffer.byteLength(l) + 5 : 9;
  }
  if (bytes > MAX_FRAME_BYTES - 1024) {
    throw new CleanroomError('LIMIT_EXCEEDED', `the labels of ${labels.length} groups take about ${bytes} bytes, more than one ${MAX_FRAME_BYTES}-byte frame; group by fewer or shorter values`, { dataDependent: true });
  }
}

/** Every limit on the groups, checked once their labels are known and before anything is shared. */
function assertGroupsFit(labels: Labels): void {
  // Every figure here is a fact about the matched rows: the peers learn the code only (errors.ts forPeer).
  if (labels.length > MAX_GROUPS) throw new CleanroomError('LIMIT_EXCEEDED', `the query yields ${labels.length} groups; at most ${MAX_GROUPS} are allowed`, { dataDependent: true });
  if (labels.some((row) => row.some((l) => typeof l === 'string' && l.length > MAX_LABEL_CHARS))) {
    throw new CleanroomError('LIMIT_EXCEEDED', `a GROUP BY value is longer than ${MAX_LABEL_CHARS} characters; group by a shorter column`, { dataDependent: true });
  }
  assertLabelsFit(labels);
}

/**
 * The release stage of every flow (SPEC §4.3-§4.5), for any number of holders and receivers: dealers split their
 * per-group values into one additive share per holder; each holder adds what it holds and opens its count shares
 * to the other holders; groups under the minimum are dropped; the surviving value shares go to the receivers and
 * the labels from `labelsFrom` to `labelsTo`. Pure: messages in, envelopes and the outcome out; a violation throws,
 * and the flow machine turns it into aborts.
 *
 * One rule for messages out of order, from the order in which every member sends on one channel: a dealer's shares
 * come before its count shares, a holder's count shares before its value shares, and the values before the labels.
 * Count and value shares of other senders may overtake this member's own progress and are kept until it needs them.
 */
export class Release {
  private started = false;
  private dealt = false;
  private countsSent = false;
  private readonly width: number;
  private readonly cols: readonly number[];
  /** This holder's share of every group's vector: its own part, plus the other dealers' shares as they arrive. */
  private held: bigint[][] | undefined;
  private groups: number | undefined;
  private labels: Labels | undefined;
  /** The counts a sole dealer computed itself, in the order it deals them. */
  private keyCounts: bigint[] = [];
  /**
   * A sole dealer of exact counts deals them in an order of their own (SPEC §4.3): for each count's position, the
   * position of the same group's values.
   */
  private valueOfCount: number[] | undefined;
  /** The value positions of the groups that met the minimum, as the sole dealer announced them with its counts. */
  private announced: number[] | undefined;
  private readonly sharesFrom = new Set<string>();
  private readonly counts = new Map<string, bigint[]>();
  private readonly values = new Map<string, bigint[]>();
  private survivors: number[] | undefined;
  /** The query's noise, if a table has a privacy policy: the flows' machines read their dummies and padding here. */
  readonly noise: NoisePlan | undefined;
  /**
   * SPEC §10.1, two-party aggregate: the shares the sole dealer dealt its partner, which adds no noise, so that what
   * the partner opens can be checked against them exactly (any difference is a partner biasing the result).
   */
  private dealtToPartner: bigint[][] | undefined;

  constructor(private readonly r: ReleaseParams) {
    this.noise = noisePlan(r.plan, noiseAdders(r.plan));
    this.width = groupWidth(r.plan);
    this.cols = releasedSlots(r.plan);
    if (r.domain) {
      assertGroupsFit(r.domain);
      this.groups = r.domain.length;
      if (this.isHolder) this.labels = r.domain;
    }
    if (r.padTo) {
      assertGroupsFit(r.padTo);
      this.groups = r.padTo.length;
    }
  }

  /** The count opened to every holder to pick the released groups (SPEC §10.2): distinct keys unless the noise plan says otherwise. */
  private get thresholdColumn(): number {
    return this.noise?.thresholdColumn ?? KEYS;
  }

  private get isHolder(): boolean {
    return this.r.holders.includes(this.r.self);
  }

  private get otherHolders(): readonly string[] {
    return this.r.holders.filter((h) => h !== this.r.self);
  }

  /** The flow's own part (its PSI) is over: from now on the messages of the release are in their round. */
  start(): void {
    this.started = true;
  }

  /** A dealer's per-group integers over its own rows. */
  deal(groups: readonly GroupAggregate[]): Step {
    if (!this.started || this.dealt || !this.r.dealers.includes(this.r.self)) throw new CleanroomError('INTERNAL', 'aggregates outside the aggregating phase');
    this.dealt = true;
    for (const g of groups) if (g.values.length !== this.width) throw new CleanroomError('INTERNAL', `group vector of ${g.values.length} values, ${this.width} expected`);
    const vectors = this.r.domain ? this.onDomain(this.r.domain, groups) : this.soleDealer(groups);
    // A policy on another table of the query (the joined one) makes the totals noisy but protects nobody of this
    // table's: only a policy on the federated table itself replaces the veto (SPEC §1).
    if (this.r.dealers.length > 1 && !this.r.plan.aggregator.table.rules.privacy) this.vetoSmallParts(vectors);
    const parts = this.r.holders.map(() => [] as bigint[]);
    for (const v of vectors.flat()) share(v, this.r.holders.length).forEach((s, j) => parts[j]!.push(s));
    const own = chunk(parts[this.r.holders.indexOf(this.r.self)]!, this.width);
    if (this.checksPartner) this.dealtToPartner = chunk(parts[this.r.holders.findIndex((h) => h !== this.r.self)]!, this.width);
    this.held = this.held ? chunk(addShares(this.held.flat(), own.flat()), this.width) : own;
    const send = this.r.holders.flatMap((to, j) =>
      to === this.r.self ? [] : [{ to, msg: { type: 'shares', queryId: this.r.queryId, groups: vectors.length, width: this.width, values: encodeRingElements(parts[j]!) } } as Envelope],
    );
    return followedBy(send, this.afterShares());
  }

  /**
   * SPEC §4.5: without a privacy policy, a group of several dealers is released only if every dealer's own part of
   * it is empty or meets the minimum on its own. Otherwise a holder could pad a group with made-up keys until one real
   * person of another holder carried it over the minimum, and read that person's value from the total. A dealer with
   * a small part takes VETO plus a fresh random 64-bit amount off its distinct-key count: the opened total is then far
   * below any minimum, and, the amounts being random, it shows that the group was vetoed (and by about how many)
   * but not its count.
   */
  private vetoSmallParts(vectors: bigint[][]): void {
    const min = BigInt(this.r.plan.minDistinctKeys);
    for (const v of vectors) {
      const keys = v[KEYS]!;
      // On the count that decides the release: the distinct keys, or under a policy the count the noise plan opens.
      if (keys > 0n && keys < min) v[this.thresholdColumn] = v[this.thresholdColumn]! - VETO - osRandom.below(1n << 64n);
    }
  }

  /** Groups absent from this dealer's part are zeros: the exchange says nothing about which groups it has. */
  private onDomain(domain: Labels, groups: readonly GroupAggregate[]): bigint[][] {
    const index = new Map(domain.map((labels, i) => [JSON.stringify(labels), i]));
    const vectors = domain.map(() => new Array<bigint>(this.width).fill(0n));
    for (const g of groups) {
      const i = index.get(JSON.stringify(g.labels));
      if (i === undefined) throw new CleanroomError('DATA_INVALID', `group ${JSON.stringify(g.labels)} is not among the declared values`);
      vectors[i] = [...g.values];
    }
    return vectors;
  }

  /**
   * A sole dealer's groups, in an order drawn for this query (SPEC §4.3): a group vector's position says nothing of
   * its label, here or in another query, to the holders that see its counts without labels. Receivers sort the
   * result by label.
   */
  private soleDealer(groups: readonly GroupAggregate[]): bigint[][] {
    const rows = this.r.padTo ? undefined : asGroups(groups, this.width);
    const vectors = this.r.padTo ? this.onDomain(this.r.padTo, groups) : rows!.map((g) => [...g.values]);
    const labels = this.r.padTo ?? rows!.map((g) => g.labels);
    const order = Array.from(vectors.keys());
    shuffleInPlace(order);
    this.labels = order.map((i) => labels[i]!);
    this.groups = vectors.length;
    if (!this.splitsOrders) {
      this.keyCounts = order.map((i) => vectors[i]![KEYS]!);
      return order.map((i) => vectors[i]!);
    }
    // Exact counts go out in a second order, unrelated to the first: a receiver that holds shares sees the counts
    // of every group and the labels of the released ones, and must not be able to pair them (SPEC §7).
    const countOrder = Array.from(vectors.keys());
    shuffleInPlace(countOrder);
    const positionOf = new Map(order.map((g, pos) => [g, pos]));
    this.valueOfCount = countOrder.map((g) => positionOf.get(g)!);
    this.keyCounts = countOrder.map((g) => vectors[g]![KEYS]!);
    return order.map((g, pos) => vectors[g]!.map((v, c) => (c === KEYS ? this.keyCounts[pos]! : v)));
  }

  /**
   * Whether a sole dealer deals its exact counts in an order of their own (SPEC §4.3); noisy counts need not hide, nor
   * do the distinct-key counts of a query that outputs them (COUNT(DISTINCT key)): each released group's count is
   * then in its result row, and the value vectors must carry it in their own order.
   */
  private get splitsOrders(): boolean {
    return this.r.dealers.length === 1 && !this.r.domain && !this.noise && !releasedSlots(this.r.plan).includes(KEYS);
  }

  receive(from: string, msg: ReleaseMessage): Step {
    this.admit(from, msg);
    if (!this.started) throw new ProtocolViolation('wrong-round', `${msg.type} before the release stage`);
    switch (msg.type) {
      case 'shares':
        return this.onShares(from, msg.groups, msg.width, msg.values);
      case 'open':
        return this.onOpen(from, msg.stage, msg.values, msg.positions);
      case 'labels':
        return this.onLabels(from, msg.labels);
    }
  }

  /** Who may send what to whom, whatever the round (SPEC §4.3, §4.5). */
  private admit(from: string, msg: ReleaseMessage): void {
    const { self, holders, dealers, receivers, labelsFrom, labelsTo } = this.r;
    if (msg.type === 'shares') {
      // SPEC §4.5: each dealer sends each other holder its share, once.
      if (!this.isHolder || !dealers.some((d) => d !== self)) throw new ProtocolViolation('unexpected-message', `unexpected shares from ${from}: ${self} receives no shares`);
      if (!dealers.includes(from)) throw new ProtocolViolation('unexpected-sender', `unexpected shares from ${from}, which deals none`);
      if (this.sharesFrom.has(from)) throw new ProtocolViolation('repeated-message', `${from} sent its shares twice`);
    } else if (msg.type === 'open') {
      if (msg.stage === 'counts' && !this.isHolder) throw new ProtocolViolation('unexpected-message', 'counts are opened to holders only');
      if (msg.stage === 'values' && !receivers.includes(self)) throw new ProtocolViolation('unexpected-message', `${self} is not a result receiver`);
      if (!holders.includes(from)) throw new ProtocolViolation('unexpected-sender', `${from} holds no part and opens nothing`);
      if ((msg.stage === 'counts' ? this.counts : this.values).has(from)) throw new ProtocolViolation('repeated-message', `${from} opened its ${msg.stage} twice`);
    } else {
      if (!labelsTo.includes(self)) throw new ProtocolViolation('unexpected-message', `unexpected labels from ${from}: ${self} learns no labels from a peer`);
      if (from !== labelsFrom) throw new ProtocolViolation('unexpected-sender', `unexpected labels from ${from}`);
      if (this.labels) throw new ProtocolViolation('repeated-message', `${from} sent the labels twice`);
    }
  }

  private onShares(from: string, groups: number, width: number, bytes: Uint8Array): Step {
    if (width !== this.width) throw new ProtocolViolation('bad-share-shape', `share vectors of width ${width}; this query has ${this.width}`);
    if (this.r.plan.mode === 'count-only' && groups !== 1) throw new ProtocolViolation('bad-share-shape', `a count-only query has one group, not ${groups}`);
    if (this.groups !== undefined && groups !== this.groups) throw new ProtocolViolation('bad-share-shape', `shares of ${groups} groups, expected ${this.groups}`);
    const values = decodeRingElements(bytes);
    if (values.length !== groups * width) throw new ProtocolViolation('bad-share-shape', `${values.length} shares for ${groups} groups of ${width}`);
    this.sharesFrom.add(from);
    this.groups = groups;
    this.held = this.held ? chunk(addShares(this.held.flat(), values), width) : chunk(values, width);
    return this.afterShares();
  }

  /** Once every share this holder is due is in: its count shares to the other holders. */
  private afterShares(): Step {
    if (this.countsSent || !this.sharesComplete) return { send: [] };
    this.countsSent = true;
    if (this.noise && this.addsNoise) this.addNoise(this.noise);
    const values = encodeRingElements(this.held!.map((v) => v[this.thresholdColumn]!));
    // The sole dealer knows its exact counts: it says at once which value vectors the surviving groups are in.
    const positions = this.valueOfCount && this.valuePositions(survivingGroups(this.keyCounts, this.r.plan));
    const send: Envelope[] = this.otherHolders.map((to) => ({ to, msg: { type: 'open', queryId: this.r.queryId, stage: 'counts', values, ...(positions ? { positions } : {}) } }));
    return followedBy(send, this.afterCounts());
  }

  /**
   * SPEC §10.1: this holder's own full-scale noise on its share of every value that will be opened, before any is.
   * Whoever sees an opened value (a holder knowing its own noise included) sees at least one other holder's noise.
   */
  private addNoise(noise: NoisePlan): void {
    const random = this.r.random ?? osRandom;
    for (const vector of this.held!) {
      for (const { column, mechanism } of noise.columns) vector[column] = BigInt.asUintN(RING_BITS, vector[column]! + sampleNoise(mechanism, random));
    }
  }

  /** SPEC §10.1: every holder adds noise, but in a two-party aggregate query the dealer alone. */
  private get addsNoise(): boolean {
    return !dealerChecksShares(this.r.plan) || this.r.dealers.includes(this.r.self);
  }

  /** The sole dealer of a two-party aggregate query, which checks what its partner opens against what it dealt. */
  private get checksPartner(): boolean {
    return dealerChecksShares(this.r.plan) && this.r.dealers.length === 1 && this.r.dealers[0] === this.r.self && this.r.holders.length === 2;
  }

  /** SPEC §10.1: a partner's opened shares, each the one dealt to it, or the query stops before anything is released. */
  private assertDealt(from: string, opened: readonly bigint[], dealt: readonly bigint[], what: string): void {
    if (opened.length !== dealt.length || opened.some((v, i) => v !== dealt[i])) {
      throw new ProtocolViolation('shares-mismatch', `${from} opened ${what} other than the shares dealt to it`);
    }
  }

  private get sharesComplete(): boolean {
    return this.r.dealers.every((d) => (d === this.r.self ? this.dealt : this.sharesFrom.has(d)));
  }

  private onOpen(from: string, stage: 'counts' | 'values', bytes: Uint8Array, positions: readonly number[] | undefined): Step {
    if (stage === 'counts') {
      if (this.r.dealers.includes(from) && !this.sharesFrom.has(from)) throw new ProtocolViolation('wrong-round', `count shares from ${from} before its shares`);
      // SPEC §4.3: exactly the sole dealer of exact counts names the surviving groups' value positions.
      const due = this.splitsOrders && this.r.dealers.includes(from);
      if (due !== (positions !== undefined)) throw new ProtocolViolation('bad-share-shape', due ? `${from} opened its counts without the released groups' positions` : `${from} named released positions it does not deal`);
      if (positions) this.announced = [...positions];
      this.counts.set(from, decodeRingElements(bytes));
      return this.afterCounts();
    }
    if (this.isHolder && !this.counts.has(from)) throw new ProtocolViolation('wrong-round', `value shares from ${from} before its count shares`);
    this.values.set(from, decodeRingElements(bytes));
    return this.afterValues();
  }

  private onLabels(from: string, labels: Labels): Step {
    if (!this.values.has(from)) throw new ProtocolViolation('wrong-round', `labels from ${from} before its value shares`);
    this.labels = labels;
    return this.afterValues();
  }

  /** Once every holder's count shares are in: the surviving groups, and the value shares to each receiver. */
  private afterCounts(): Step {
    if (this.survivors || !this.countsSent || this.counts.size < this.otherHolders.length) return { send: [] };
    const held = this.held!;
    for (const [from, v] of this.counts) if (v.length !== held.length) throw new ProtocolViolation('bad-share-shape', `${from} opened ${v.length} counts for ${held.length} groups`);
    if (this.dealtToPartner) for (const [from, v] of this.counts) this.assertDealt(from, v, this.dealtToPartner.map((d) => d[this.thresholdColumn]!), 'count shares');
    const counts = held.map((v, g) => reconstruct([v[this.thresholdColumn]!, ...[...this.counts.values()].map((c) => c[g]!)]));
    // Other holders' noise makes the opened counts differ from the dealt ones: only exact counts can be checked.
    if (this.r.verifyCounts && !this.noise && this.r.dealers.includes(this.r.self) && counts.some((c, g) => c !== this.keyCounts[g])) {
      throw new ProtocolViolation('shares-mismatch', 'the count shares do not reconstruct the counts that were shared');
    }
    const survivors = this.valuePositions(survivingGroups(counts, this.r.plan, this.noise));
    this.survivors = survivors;
    const values = encodeRingElements(survivors.flatMap((g) => this.cols.map((c) => held[g]![c]!)));
    const send: Envelope[] = [];
    for (const to of this.r.receivers.filter((x) => x !== this.r.self)) {
      send.push({ to, msg: { type: 'open', queryId: this.r.queryId, stage: 'values', values } });
      if (this.r.self === this.r.labelsFrom && this.r.labelsTo.includes(to)) {
        send.push({ to, msg: { type: 'labels', queryId: this.r.queryId, labels: survivors.map((g) => [...this.labels![g]!]) } });
      }
    }
    if (!this.r.receivers.includes(this.r.self)) {
      this.end();
      return { send, outcome: { kind: 'released', groups: survivors.length, receivers: this.r.receivers } };
    }
    return followedBy(send, this.afterValues());
  }

  /**
   * Where the values of the groups whose counts met the minimum are: the same positions, unless a sole dealer dealt
   * its exact counts in an order of their own; then the dealer maps them, and every other holder takes the dealer's
   * word for the positions, checking only that they are as many as its counts allow (the dealer is honest but
   * curious, SPEC §1, and computed those counts itself).
   */
  private valuePositions(counted: readonly number[]): number[] {
    if (!this.splitsOrders) return [...counted];
    if (this.valueOfCount) return counted.map((i) => this.valueOfCount![i]!).sort((a, b) => a - b);
    const announced = this.announced!;
    const valid = announced.length === counted.length && new Set(announced).size === announced.length && announced.every((p, i) => p < this.groups! && (i === 0 || announced[i - 1]! < p));
    if (!valid) throw new ProtocolViolation('bad-share-shape', `the dealer named ${announced.length} released positions, not ${counted.length} distinct ones in order among ${this.groups} groups`);
    return announced;
  }

  /** Once the value shares of every other holder and the labels are in: the result. */
  private afterValues(): Step {
    if (this.values.size < this.otherHolders.length || !this.labels) return { send: [] };
    if (this.isHolder && !this.survivors) return { send: [] };
    // A holder knows which groups survived; a receiver holding no part learns them from the labels.
    const received = this.r.labelsTo.includes(this.r.self);
    const labels = received ? this.labels : this.survivors!.map((g) => this.labels![g]!);
    if (this.survivors && labels.length !== this.survivors.length) throw new ProtocolViolation('bad-share-shape', `${labels.length} labels for ${this.survivors.length} released groups`);
    if (labels.some((l) => l.length !== this.r.plan.groupBy.length)) throw new ProtocolViolation('bad-share-shape', `labels must have ${this.r.plan.groupBy.length} values each`);
    const n = this.cols.length;
    for (const [from, v] of this.values) if (v.length !== labels.length * n) throw new ProtocolViolation('bad-share-shape', `${from} opened ${v.length} values, ${labels.length * n} expected`);
    if (this.dealtToPartner && this.survivors) {
      const dealt = this.survivors.flatMap((g) => this.cols.map((c) => this.dealtToPartner![g]![c]!));
      for (const [from, v] of this.values) this.assertDealt(from, v, dealt, 'value shares');
    }
    const own = this.survivors?.map((g) => this.cols.map((c) => this.held![g]![c]!));
    const opened = labels.map((_, i) => this.cols.map((_c, j) => reconstruct([...(own ? [own[i]![j]!] : []), ...[...this.values.values()].map((v) => v[i * n + j]!)])));
    // HAVING, ORDER BY and LIMIT shape only what this receiver's result shows, after everything was opened.
    const result = afterRelease(this.r.plan, assembleResult(this.r.queryId, this.r.plan, labels, opened, this.noise && noiseBounds(this.noise, this.cols)));
    this.end();
    return { send: [], outcome: { kind: 'result', result } };
  }

  /** Forgets every share: called on the outcome and by the flow when the query fails. */
  end(): void {
    this.held = undefined;
    this.dealtToPartner = undefined;
    this.counts.clear();
    this.values.clear();
  }
}

/** A query with no matched row still has its one (empty) group, so the shape of the exchange never depends on the data. */
function asGroups(groups: readonly GroupAggregate[], width: number): readonly GroupAggregate[] {
  assertGroupsFit(groups.map((g) => g.labels));
  return groups.length > 0 ? groups : [{ labels: [], values: new Array<bigint>(width).fill(0n) }];
}

function chunk(values: readonly bigint[], width: number): bigint[][] {
  return Array.from({ length: values.length / width }, (_, i) => values.slice(i * width, (i + 1) * width));
}
