
import type { PsiGroup } from '../crypto/group.js';
import type { QuerySecret } from '../crypto/secret.js';
import type { ReblindCheck } from '../crypto/verified-reblind.js';
import type { RandomSource } from '../dp/random-source.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import type { SessionMessage } from '../wire/messages.js';
import { Release } from './release.js';
import { osRandom } from '../dp/random-source.js';
import type { QueryPlan, TableSide } from '../query/plan.js';
import { addedCount } from './dummy-matches.js';
import { PaddedStream, type PaddedBatch } from './point-stream.js';
import { ArrangedStream } from './arranged-stream.js';
import { assertOwnParts, assertOwnTableSet, assertSetSize } from './probe-guard.js';
import { Session } from './session.js';
import { NOTHING, followedBy, type Envelope, type Step } from './step.js';
import { PSI_BATCH_KEYS } from '../limits.js';

/** A two-party PSI: this member and the one peer it runs the protocol with. */
export interface PairParams {
  readonly queryId: string;
  readonly plan: QueryPlan;
  readonly self: string;
  readonly peer: string;
  /** Zeroed by the machine when its last multiplication is done; blind requests carry it until then. */
  readonly secret: QuerySecret;
  /**
   * SPEC §4.6: the partner's secret b_v for each part of its key set, one per label of `plan.partnerGroups`, when the
   * query groups by the partner's dimensions and this member is the partner; zeroed with `secret`.
   */
  readonly partSecrets?: readonly QuerySecret[];
  /** For a count-only DP query's dummy matches, a few multiplications on this thread (SPEC §10.3). */
  readonly group: PsiGroup;
  /** Where a DP query's noise comes from: the OS CSPRNG unless a test fixes it. */
  readonly random?: RandomSource;
}

/** Every message of a two-party PSI goes to the one peer. */
export function toPeer(p: PairParams, msgs: readonly SessionMessage[]): Envelope[] {
  return msgs.map((msg) => ({ to: p.peer, msg }));
}

/** The release stage of a two-party query: P deals to both, checks the counts it computed, and sends Q the labels. */
function pairRelease(p: PairParams, aggregator: string): Release {
  const holders = [aggregator, aggregator === p.self ? p.peer : p.self];
  const receivers = p.plan.receivers.filter((r) => holders.includes(r));
  // Declared values: P deals every group (its order is its own), so Q learns how many there can be, not which have rows.
  const domain = p.plan.mode === 'aggregate' ? p.plan.domain : undefined;
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
    ...(domain ? { padTo: domain } : {}),
    ...(p.random ? { random: p.random } : {}),
  });
}

/**
 * What both halves of a two-party PSI share: the one peer, and one queue of multiplications with the one secret,
 * this member's own batches and the peer's in request order. The own stream completes once the driver's key
 * stream is over and its last batch is back.
 */
export abstract class PairSession extends Session {
  protected readonly release: Release;
  private readonly requests: ('own' | 'peer' | 'check')[] = [];
  private ownClosing = false;
  /** Own batches handed out for blinding and not yet back. */
  private ownPending = 0;
  /** Every own batch is blinded and the own stream is complete. */
  protected ownEnded = false;
  /** SPEC §10.2: an own set that does not stream arranged, in batches with its padding among them, under a policy. */
  private readonly padded: PaddedStream | undefined;
  /**
   * SPEC §4.2 step 1: a partner's set in one part streams arranged, its padding and dummy slots spread uniformly, as
   * soon as it knows its size (`ownKeyCount`): `arranges` says it must, `arranged` is that stream once it can. Not a
   * federated join's (§4.5): every holder's PSI gets the same key stream, and streams of one order would let holders
   * who pool what they saw line their matches up, and count each other's padding.
   */
  private readonly arranges: boolean;
  private arranged: ArrangedStream | undefined;
  /** Where each own request's dummy slots go once its points are back (SPEC §10.3), in request order. */
  private readonly ownDummies: (Uint32Array | undefined)[] = [];
  /** The padding count (SPEC §10.2), drawn before the first batch; 0 for a table without a policy. */
  private readonly paddingCount: number;
  private readonly random: RandomSource;
  /**
   * SPEC §4.6, §10.2: a partner's set in parts is shuffled whole before it leaves, so its padding is blinded after its
   * keys, this many points.
   */
  private readonly partPadding: number;
  /** The distinct keys of this member's own filtered set (of each part, SPEC §4.6): the driver's whole key stream. */
  private readonly ownKeys: number[] = [0];

  constructor(
    protected readonly p: PairParams,
    private readonly aggregator: string,
  ) {
    // A two-party query names its peer to this node's operator as "the peer" when it aborts.
    super(p.queryId, 'the peer');
    this.release = pairRelease(p, aggregator);
    // The padding count is drawn before the first batch, so that the padding can go out with the keys from the start.
    const padding = this.release.noise?.padding;
    const random = (this.random = p.random ?? osRandom);
    const count = padding?.tables.includes(this.side.table.name) ? addedCount(padding, random) : undefined;
    this.paddingCount = count ?? 0;
    const parts = p.partSecrets?.length ?? 0;
    if (parts > 0 && (p.plan.mode !== 'aggregate' || p.plan.partnerGroups?.labels.length !== parts || aggregator === p.self)) {
      throw new CleanroomError('INTERNAL', 'part secrets for a query without the partner\'s groups, or for its aggregator');
    }
    this.ownKeys = Array<number>(Math.max(1, parts)).fill(0);
    this.partPadding = parts > 0 ? (count ?? 0) : 0;
    this.arranges = aggregator !== p.self && parts === 0 && p.plan.mode !== 'federated';
    if (count !== undefined && parts === 0 && !this.arranges) this.padded = new PaddedStream(count, random);
  }

  /** Whether this member's own set leaves as it is blinded (else the partner holds it, to shuffle it whole). */
  protected get streamsOwnSet(): boolean {
    return this.arranges;
  }

  /** The partner's dummy slots in its own set (SPEC §10.3): none but in a count-only DP query. */
  protected get ownDummySlots(): number {
    return 0;
  }

  /** SPEC §4.2 step 1: the number of this member's distinct keys, before the first of them. */
  override ownKeyCount(keys: number): Step {
    return this.unlessEnded(() => {
      if (!this.arranges) return NOTHING;
      if (this.arranged || this.ownClosing || this.ownKeys[0]! > 0) throw new CleanroomError('INTERNAL', 'the own key count after the key stream began, or twice');
      // Its points leave as they are blinded: a set under the minimum is refused before the first of them (SPEC §4.2).
      if (this.p.self !== this.p.plan.querier) assertOwnTableSet(this.p.plan, keys, this.side.table);
      this.arranged = new ArrangedStream(keys, this.paddingCount, this.ownDummySlots, this.random);
      return NOTHING;
    });
  }

  get peers(): readonly string[] {
    return [this.p.peer];
  }

  get keyed(): boolean {
    return true;
  }

  /** This member's table: P's is the aggregated one, Q's the one it joins. */
  get side(): TableSide {
    return this.aggregator === this.p.self ? this.p.plan.aggregator : this.p.plan.others[0]!;
  }

  /**
   * A batch of this member's own H(k), to be raised to its secret: as it comes, or in the batches of a padded set. A
   * partner's set in parts (SPEC §4.6) comes part by part, each raised to the part's own secret.
   */
  ownHashed(hashed: Uint8Array, part = 0): Step {
    return this.unlessEnded(() => {
      if (this.ownClosing) throw new CleanroomError('INTERNAL', 'own points after the end of the own key stream');
      if (!Number.isInteger(part) || part < 0 || part >= this.ownKeys.length) throw new CleanroomError('INTERNAL', `own points of part ${part}, of ${this.ownKeys.length}`);
      this.ownKeys[part]! += hashed.length / this.p.group.pointBytes;
      if (this.p.partSecrets) return this.blindOwn([{ points: hashed, padding: new Uint32Array(0) }], this.p.partSecrets[part]);
      if (this.arranges) return this.blindOwn(this.arrangedStream().add(hashed));
      return this.blindOwn(this.padded ? this.padded.add(hashed) : [{ points: hashed, padding: new Uint32Array(0) }]);
    });
  }

  ownEnd(): Step {
    return this.unlessEnded(() => {
      this.ownClosing = true;
      // The querier's own set is its own choice: a small one probes nobody of its table. Each part of a set in parts
      // is checked as the set of one query filtered on its label would be.
      if (this.p.self !== this.p.plan.querier) for (const n of this.ownKeys) assertOwnTableSet(this.p.plan, n, this.side.table);
      else if (this.p.partSecrets) assertOwnParts(this.p.plan, this.ownKeys, this.side.table);
      const last = this.arranges ? this.arrangedStream().finish() : (this.padded?.finish() ?? paddingOnly(this.partPadding));
      return last.length > 0 ? this.blindOwn(last, this.p.partSecrets?.[0]) : this.closeOwn();
    });
  }

  /** A blinding requested by `blind`, in request order: an own batch, or one of the peer's. */
  blinded(result: Uint8Array): Step {
    return this.unlessEnded(() => {
      const request = this.requests.shift();
      if (request === undefined) throw new CleanroomError('INTERNAL', 'a blinded batch nobody asked for');
      if (request === 'peer') return this.peerBatchBlinded(result);
      if (request === 'check') return this.returnedBatchChecked(result);
      this.ownPending -= 1;
      return followedBy(this.ownBatchBlinded(result, this.ownDummies.shift()), this.closeOwn());
    });
  }

  protected handle(from: string, msg: Exclude<SessionMessage, { type: 'abort' }>): Step {
    switch (msg.type) {
      case 'points':
        return this.onPoints(msg);
      case 'points-end':
        return this.onPointsEnd(msg);
      case 'dummy-base':
        return this.onDummyBase(msg);
      case 'reblind-key':
        return this.onReblindKey(msg);
      case 'shares':
      case 'open':
      case 'labels':
        return this.released(this.release.receive(from, msg));
      default:
        throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in ${this.where()}`);
    }
  }

  /** SPEC §7: a peer set under the minimum is a probe (probe-guard.ts). */
  protected assertPeerSetSize(count: number): void {
    assertSetSize(this.p.plan, count, this.side.table);
  }

  /** Whether this member's key set is padded (SPEC §10.2): its table has a policy. */
  protected get padsOwnSet(): boolean {
    return this.padded !== undefined;
  }

  /** The indices of the padding points in this member's own stream so far, ascending (none when it is not padded). */
  protected get paddingPositions(): readonly number[] {
    return this.padded?.positions ?? [];
  }

  /** Only the partner of a count-only DP query receives the aggregator's dummy base. */
  protected onDummyBase(msg: Extract<SessionMessage, { type: 'dummy-base' }>): Step {
    throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in ${this.where()}`);
  }

  /** Only the aggregator of a verified query receives the partner's keys (SPEC §4.2.1). */
  protected onReblindKey(msg: Extract<SessionMessage, { type: 'reblind-key' }>): Step {
    throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in ${this.where()}`);
  }

  /**
   * Asks for a batch of the peer's points to be raised to this member's secret, or (SPEC §4.6) to each part's; in a
   * verified query (SPEC §4.2.1) with each part's proof in the context `prove(part)` names.
   */
  protected blindPeerBatch(points: Uint8Array, prove?: (part: number) => Uint8Array): Step {
    const secrets = this.p.partSecrets ?? [this.p.secret];
    this.requests.push(...secrets.map(() => 'peer' as const));
    return { send: [], blind: secrets.map((secret, part) => ({ points, secret, ...(prove ? { prove: prove(part) } : {}) })) };
  }

  /** Asks for a returned batch to be checked (SPEC §4.2.1); answered by `returnedBatchChecked`. */
  protected checkReturnedBatch(check: ReblindCheck): Step {
    this.requests.push('check');
    return { send: [], check: [check] };
  }

  /** The u-coordinates of a returned batch whose proof verified: only an aggregator asks for checks. */
  protected returnedBatchChecked(_checked: Uint8Array): Step {
    throw new CleanroomError('INTERNAL', 'a checked batch nobody asked for');
  }

  /** Every secret of this member's for the query, wiped once its last multiplication is done or the query ends. */
  protected zeroSecrets(): void {
    this.p.secret.zero();
    for (const s of this.p.partSecrets ?? []) s.zero();
  }

  /** An own batch raised to the secret (with the slots where the partner's dummies go): what goes out at once. */
  protected abstract ownBatchBlinded(blinded: Uint8Array, dummySlots: Uint32Array | undefined): Envelope[];
  protected abstract peerBatchBlinded(blinded: Uint8Array): Step;
  /** The own stream is complete. */
  protected abstract ownComplete(): Step;
  protected abstract onPoints(msg: Extract<SessionMessage, { type: 'points' }>): Step;
  protected abstract onPointsEnd(msg: Extract<SessionMessage, { type: 'points-end' }>): Step;
  /** The role and its phase, as a violation names them. */
  protected abstract where(): string;

  /** Asks for own batches to be raised to this member's secret, padding made among them by the worker. */
  private blindOwn(batches: readonly PaddedBatch[], secret = this.p.secret): Step {
    this.ownPending += batches.length;
    this.requests.push(...batches.map(() => 'own' as const));
    this.ownDummies.push(...batches.map((b) => b.dummies));
    return { send: [], blind: batches.map(({ points, padding }) => ({ points, secret, ...(padding.length > 0 ? { padding } : {}) })) };
  }

  private arrangedStream(): ArrangedStream {
    if (!this.arranged) throw new CleanroomError('INTERNAL', 'the partner\'s own keys before their count (ownKeyCount)');
    return this.arranged;
  }

  private closeOwn(): Step {
    if (!this.ownClosing || this.ownPending > 0 || this.ownEnded) return NOTHING;
    this.ownEnded = true;
    return this.ownComplete();
  }
}

/** `count` padding points alone, in batches of the stream's size: made by the worker, raised to nothing. */
function paddingOnly(count: number): PaddedBatch[] {
  const out: PaddedBatch[] = [];
  for (let start = 0; start < count; start += PSI_BATCH_KEYS) {
    const n = Math.min(PSI_BATCH_KEYS, count - start);
    out.push({ points: new Uint8Array(0), padding: Uint32Array.from({ length: n }, (_, i) => i) });
  }
  return out;
}
