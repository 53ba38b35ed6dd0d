import type { SessionMessage } from '../wire/messages.js';
import { shuffledBatches, shufflePoints } from '../crypto/shuffle.js';
import { PSI_BATCH_KEYS } from '../limits.js';
import { ProtocolViolation } from '../errors.js';
import { PairSession, type PairParams, toPeer } from './pair.js';
import { InboundStream, OutboundStream } from './point-stream.js';
import { NOTHING, type Envelope, type Step } from './step.js';
import { osRandom } from '../dp/random-source.js';
import { DummyMatches, addedCount, dummySlots } from './dummy-matches.js';
import { edwardsFor } from '../crypto/edwards.js';
import { PROOF_BYTES } from '../crypto/dleq.js';
import { reblindContext, reblindKey } from '../crypto/verified-reblind.js';

type Phase = 'psi' | 'holding' | 'done';

/**
 * Q, the member that contributes its key set (SPEC §4). It sends its H(q)^b as a shuffled set, has P's H(p)^a raised to
 * H(p)^ab and returns them: in P's order when its table grants P overlap disclosure, shuffled (count-only)
 * otherwise. Then it holds a share of P's per-group values and opens it as the rules allow. Multiplications are
 * requested from the driver (`blind`) and come back in request order (`blinded`), its own and P's in one queue.
 */
export class PartnerSession extends PairSession {
  private phase: Phase = 'psi';
  /** SPEC §4.5, §4.6: a federated join's set or a set in parts, held until it is all blinded, then shuffled whole. */
  private own: Uint8Array[] = [];
  /** Count-only DP: the dummy points placed in the streamed set so far (SPEC §10.3). */
  private dummiesPlaced = 0;
  private readonly qOut: OutboundStream;
  private readonly pIn = new InboundStream('p');
  private readonly pqOut: OutboundStream;
  /** Re-blinded P batches not yet sent: Q's own set goes first, and count-only returns them all shuffled. */
  private pending: Uint8Array[] = [];
  /** Blindings of P batches handed out and not yet back: one per part of this member's set (SPEC §4.6). */
  private pPending = 0;
  private pqEnded = false;
  /** Count-only DP (SPEC §10.3): the dummy matches, and their points raised for the aggregator once its base is in. */
  private readonly dummies: DummyMatches | undefined;
  private dummyAnswers: Uint8Array | undefined;
  /** SPEC §4.2.1: this member proves each returned batch. */
  private readonly verified: { readonly collaborationId: string } | undefined;

  constructor(p: PairParams) {
    super(p, p.peer);
    this.qOut = new OutboundStream('q', p.queryId);
    this.pqOut = new OutboundStream('pq', p.queryId);
    const plan = this.release.noise?.dummies;
    if (plan) this.dummies = new DummyMatches(p.group, addedCount(plan, p.random ?? osRandom), dummySlots(plan), p.random ?? osRandom);
    this.verified = p.plan.mode === 'aggregate' ? p.plan.verified : undefined;
  }

  /** SPEC §4.2.1: a verified query's B = k·G for each secret goes first, before any returned point can. */
  override start(): Step {
    return this.unlessEnded(() => {
      if (!this.verified) return NOTHING;
      const g = edwardsFor(this.p.group.name);
      const keys = (this.p.partSecrets ?? [this.p.secret]).map((s) => reblindKey(g, s));
      return { send: toPeer(this.p, [{ type: 'reblind-key', queryId: this.p.queryId, keys }]) };
    });
  }

  protected override get ownDummySlots(): number {
    return this.dummies ? this.dummies.points.length / this.p.group.pointBytes : 0;
  }

  /**
   * H(q)^b as it is blinded, already arranged (SPEC §4.2 step 1), the dummy points put in their slots: it leaves at
   * once. Another set is kept until it is whole, to leave shuffled.
   */
  protected ownBatchBlinded(blinded: Uint8Array, dummySlots: Uint32Array | undefined): Envelope[] {
    if (!this.streamsOwnSet) {
      this.own.push(blinded);
      return [];
    }
    return toPeer(this.p, this.qOut.batches(dummySlots && dummySlots.length > 0 ? this.withDummies(blinded, dummySlots) : blinded));
  }

  /** The batch with the next dummy points over the padding points the worker made at `slots` (SPEC §10.3). */
  private withDummies(blinded: Uint8Array, slots: Uint32Array): Uint8Array {
    const width = this.p.group.pointBytes;
    const dummies = this.dummies!.points;
    for (const slot of slots) {
      blinded.set(dummies.subarray(this.dummiesPlaced * width, (this.dummiesPlaced + 1) * width), slot * width);
      this.dummiesPlaced += 1;
    }
    return blinded;
  }

  /** H(p)^ab for one batch of P's stream (SPEC §4.6: H(p)^ab_v, for each part v in turn). */
  protected peerBatchBlinded(reblinded: Uint8Array): Step {
    this.pPending -= 1;
    if (this.p.plan.mode !== 'count-only' && this.ownEnded) return this.ending([...this.returnBatch(reblinded), ...this.maybeEndReturn()]);
    this.pending.push(reblinded);
    return this.ending(this.maybeEndReturn());
  }

  /**
   * The whole own set is blinded and out, its padding and dummies among it; a held set goes now, shuffled whole (a set
   * in parts comes part by part, SPEC §4.6; a federated join's in one order for every holder, §4.5).
   */
  protected ownComplete(): Step {
    const own = this.own;
    this.own = [];
    const send = [...shuffledBatches(own, this.p.group.pointBytes, PSI_BATCH_KEYS).flatMap((b) => this.qOut.batches(b)), this.qOut.end()];
    if (this.p.plan.mode !== 'count-only') {
      send.push(...this.pending.flatMap((b) => this.returnBatch(b)));
      this.pending = [];
    }
    return this.ending([...send, ...this.maybeEndReturn()]);
  }

  protected where(): string {
    return `phase ${this.phase} of the partner`;
  }

  protected onPoints(msg: Extract<SessionMessage, { type: 'points' }>): Step {
    if (msg.stage !== 'p') throw new ProtocolViolation('unexpected-message', `points of stage ${msg.stage} in phase ${this.phase} of the partner`);
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `points of stage p in phase ${this.phase} of the partner`);
    if (msg.proof) throw new ProtocolViolation('unexpected-message', 'a proof with the aggregator\'s points: only returned points carry one');
    this.pIn.accept(msg);
    // SPEC §4.6: a set in parts returns each of P's batches raised to every part's secret, in part order.
    const parts = this.p.partSecrets?.length ?? 1;
    this.pPending += parts;
    // SPEC §4.2.1: P batch `seq` comes back as returned batches seq·parts + part, one per part, in that order.
    const verified = this.verified;
    return this.blindPeerBatch(msg.points, verified && ((part) => reblindContext(verified.collaborationId, this.p.queryId, part, msg.seq * parts + part)));
  }

  /**
   * One of P's batches raised (for one part), as the returned batch that answers it: a batch of P's holds at most
   * PSI_BATCH_KEYS points, so it stays one; verified, its proof rides with it.
   */
  private returnBatch(raised: Uint8Array): SessionMessage[] {
    if (!this.verified) return this.pqOut.batches(raised);
    const proof = raised.subarray(raised.length - PROOF_BYTES);
    return this.pqOut.batches(raised.subarray(0, raised.length - PROOF_BYTES)).map((m) => ({ ...m, proof }));
  }

  /** SPEC §10.3: A comes before the aggregator's first point, once, and only in a count-only DP query. */
  protected override onDummyBase(msg: Extract<SessionMessage, { type: 'dummy-base' }>): Step {
    if (!this.dummies) throw new ProtocolViolation('unexpected-message', `unexpected dummy-base in ${this.where()}: this query adds no dummy matches`);
    if (this.dummyAnswers) throw new ProtocolViolation('repeated-message', 'the dummy base came twice');
    if (this.pIn.count > 0 || this.pIn.ended) throw new ProtocolViolation('wrong-round', 'the dummy base after the aggregator\'s points');
    this.dummyAnswers = this.dummies.answer(msg.point);
    return { send: [] };
  }

  protected onPointsEnd({ stage, batches, count }: Extract<SessionMessage, { type: 'points-end' }>): Step {
    if (this.dummies && !this.dummyAnswers) throw new ProtocolViolation('wrong-round', 'the end of the aggregator\'s points before its dummy base');
    if (stage !== 'p') throw new ProtocolViolation('unexpected-message', `points-end of stage ${stage} in phase ${this.phase} of the partner`);
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `points-end of stage p in phase ${this.phase} of the partner`);
    this.pIn.end(batches, count);
    this.assertPeerSetSize(count);
    return this.ending(this.maybeEndReturn());
  }

  /** Once both the own set and P's whole stream are through, close the returned stream and forget the secret. */
  private maybeEndReturn(): SessionMessage[] {
    if (!this.ownEnded || !this.pIn.ended || this.pPending > 0 || this.pqEnded) return [];
    const send: SessionMessage[] = [];
    if (this.p.plan.mode === 'count-only') {
      const returned = this.dummyAnswers ? [...this.pending, this.dummyAnswers] : this.pending;
      send.push(...this.pqOut.batches(shufflePoints(Buffer.concat(returned))));
      this.dummyAnswers = undefined;
      this.pending = [];
    }
    send.push(this.pqOut.end());
    this.pqEnded = true;
    this.zeroSecrets();
    this.phase = 'holding';
    this.release.start();
    return send;
  }

  /** Joined with a federated table, this member's part ends with the PSI: the holders aggregate among themselves. */
  private ending(msgs: SessionMessage[]): Step {
    const send = toPeer(this.p, msgs);
    if (this.p.plan.mode !== 'federated' || !this.pqEnded || this.phase !== 'holding') return { send };
    this.finish();
    return { send, outcome: { kind: 'joined' } };
  }

  protected wipe(): void {
    this.zeroSecrets();
    this.phase = 'done';
    this.own = [];
    this.pending = [];
    this.dummies?.zero();
    this.dummyAnswers = undefined;
    this.release.end();
  }
}
