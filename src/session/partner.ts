import { type Cell, KEYS, assembleResult, groupWidth, releasedColumns } from '../query/result.js';
import type { SessionMessage } from '../wire/messages.js';
import { shufflePoints } from '../crypto/shuffle.js';
import { decodeRingElements, encodeRingElements, reconstruct } from '../crypto/shares.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { survivingGroups } from './release.js';
import { Session, type SessionParams } from './session.js';
import { InboundStream, OutboundStream } from './point-stream.js';
import { NOTHING, type Step } from './step.js';

type Phase = 'psi' | 'holding' | 'counts' | 'values' | 'labels' | 'done';

/**
 * Q, the member that contributes its key set (SPEC §4). It sends its H(q)^b shuffled, has P's H(p)^a raised to
 * H(p)^ab and returns them: in P's order when its table grants P overlap disclosure, shuffled (count-only)
 * otherwise. Then it holds a share of P's per-group values and opens it as the rules allow. Multiplications are
 * requested from the driver (`blind`) and come back in request order (`peerBlinded`).
 */
export class PartnerSession extends Session {
  private phase: Phase = 'psi';
  private own: Uint8Array[] = [];
  private ownEnded = false;
  private readonly qOut: OutboundStream;
  private readonly pIn = new InboundStream('p');
  private readonly pqOut: OutboundStream;
  /** Re-blinded P batches not yet sent: Q's own set goes first, and count-only returns them all shuffled. */
  private pending: Uint8Array[] = [];
  /** P batches handed out for blinding and not yet back. */
  private pPending = 0;
  private pqEnded = false;
  private held: bigint[][] = [];
  private survivors: number[] = [];
  private opened: bigint[][] = [];

  constructor(p: SessionParams) {
    super(p);
    this.qOut = new OutboundStream('q', p.queryId);
    this.pqOut = new OutboundStream('pq', p.queryId);
  }

  /** A batch of this node's own H(q)^b. */
  ownPoints(blinded: Uint8Array): Step {
    // Own batches still in flight when the session already ended (a peer's abort) are moot.
    if (this.ended) return NOTHING;
    return this.guard(() => {
      if (this.phase !== 'psi' || this.ownEnded) throw new CleanroomError('INTERNAL', 'own points after the end of the own key stream');
      this.own.push(blinded);
      return NOTHING;
    });
  }

  /** A blinding requested by `blind`, in request order: H(p)^ab for one batch of P's stream. */
  peerBlinded(reblinded: Uint8Array): Step {
    if (this.ended) return NOTHING;
    return this.guard(() => {
      if (this.phase !== 'psi' || this.pPending === 0) throw new CleanroomError('INTERNAL', 'a blinded batch nobody asked for');
      this.pPending -= 1;
      if (this.p.plan.mode !== 'count-only' && this.ownEnded) return this.ending([...this.pqOut.batches(reblinded), ...this.maybeEndReturn()]);
      this.pending.push(reblinded);
      return this.ending(this.maybeEndReturn());
    });
  }

  /** The whole own set is blinded: shuffle it (its order would tell P which of Q's rows matched) and send it. */
  ownEnd(): Step {
    if (this.ended) return NOTHING;
    return this.guard(() => {
      this.ownEnded = true;
      const all = shufflePoints(Buffer.concat(this.own));
      this.own = [];
      const send = [...this.qOut.batches(all), this.qOut.end()];
      if (this.p.plan.mode !== 'count-only') {
        send.push(...this.pending.flatMap((b) => this.pqOut.batches(b)));
        this.pending = [];
      }
      return this.ending([...send, ...this.maybeEndReturn()]);
    });
  }

  protected handle(msg: Exclude<SessionMessage, { type: 'abort' }>): Step {
    switch (msg.type) {
      case 'points':
        return this.onPoints(msg);
      case 'points-end':
        return this.onPointsEnd(msg.stage, msg.batches, msg.count);
      case 'shares':
        return this.onShares(msg.groups, msg.width, msg.values);
      case 'open':
        return this.onOpen(msg.stage, msg.values);
      case 'labels':
        return this.onLabels(msg.labels);
      default:
        throw new ProtocolViolation('unexpected-message', `unexpected ${msg.type} in phase ${this.phase} of the partner`);
    }
  }

  private onPoints(msg: Extract<SessionMessage, { type: 'points' }>): Step {
    if (msg.stage !== 'p') throw new ProtocolViolation('unexpected-message', `points of stage ${msg.stage} in phase ${this.phase} of the partner`);
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `points of stage p in phase ${this.phase} of the partner`);
    this.pIn.accept(msg);
    this.pPending += 1;
    return { send: [], blind: [msg.points] };
  }

  private onPointsEnd(stage: string, batches: number, count: number): Step {
    if (stage !== 'p') throw new ProtocolViolation('unexpected-message', `points-end of stage ${stage} in phase ${this.phase} of the partner`);
    if (this.phase !== 'psi') throw new ProtocolViolation('wrong-round', `points-end of stage p in phase ${this.phase} of the partner`);
    this.pIn.end(batches, count);
    return this.ending(this.maybeEndReturn());
  }

  /** Once both the own set and P's whole stream are through, close the returned stream and forget the secret. */
  private maybeEndReturn(): SessionMessage[] {
    if (!this.ownEnded || !this.pIn.ended || this.pPending > 0 || this.pqEnded) return [];
    const send: SessionMessage[] = [];
    if (this.p.plan.mode === 'count-only') {
      send.push(...this.pqOut.batches(shufflePoints(Buffer.concat(this.pending))));
      this.pending = [];
    }
    send.push(this.pqOut.end());
    this.pqEnded = true;
    this.p.secret.zero();
    this.phase = 'holding';
    return send;
  }

  /** Joined with a federated table, this member's part ends with the PSI: the holders aggregate among themselves. */
  private ending(send: SessionMessage[]): Step {
    if (this.p.plan.mode !== 'federated' || !this.pqEnded || this.phase !== 'holding') return { send };
    this.finish();
    return { send, outcome: { kind: 'joined' } };
  }

  private onShares(groups: number, width: number, bytes: Uint8Array): Step {
    if (this.phase !== 'holding') throw new ProtocolViolation('wrong-round', `shares in phase ${this.phase}`);
    const expected = groupWidth(this.p.plan);
    if (width !== expected) throw new ProtocolViolation('bad-share-shape', `share vectors of width ${width}; this query has ${expected}`);
    if (this.p.plan.mode === 'count-only' && groups !== 1) throw new ProtocolViolation('bad-share-shape', `a count-only query has one group, not ${groups}`);
    const values = decodeRingElements(bytes);
    if (values.length !== groups * width) throw new ProtocolViolation('bad-share-shape', `${values.length} shares for ${groups} groups of ${width}`);
    this.held = Array.from({ length: groups }, (_, g) => values.slice(g * width, (g + 1) * width));
    this.phase = 'counts';
    return { send: [{ type: 'open', queryId: this.p.queryId, stage: 'counts', values: encodeRingElements(this.held.map((v) => v[KEYS]!)) }] };
  }

  private onOpen(stage: 'counts' | 'values', bytes: Uint8Array): Step {
    const cols = releasedColumns(this.p.plan);
    const receivers = this.p.plan.receivers;
    if (stage === 'counts') {
      if (this.phase !== 'counts') throw new ProtocolViolation('wrong-round', `counts opened in phase ${this.phase}`);
      const theirs = decodeRingElements(bytes);
      if (theirs.length !== this.held.length) throw new ProtocolViolation('bad-share-shape', `${theirs.length} count shares for ${this.held.length} groups`);
      this.survivors = survivingGroups(this.held.map((v, g) => reconstruct([v[KEYS]!, theirs[g]!])), this.p.plan);
      const send: SessionMessage[] = [];
      if (receivers.includes(this.p.peer)) {
        send.push({ type: 'open', queryId: this.p.queryId, stage: 'values', values: encodeRingElements(this.survivors.flatMap((g) => cols.map((c) => this.held[g]![c]!))) });
      }
      if (receivers.includes(this.p.self)) {
        this.phase = 'values';
        return { send };
      }
      this.finish();
      return { send, outcome: { kind: 'released', groups: this.survivors.length, receivers } };
    }
    if (this.phase !== 'values') throw new ProtocolViolation('wrong-round', `values opened in phase ${this.phase}`);
    const theirs = decodeRingElements(bytes);
    if (theirs.length !== this.survivors.length * cols.length) throw new ProtocolViolation('bad-share-shape', `${theirs.length} value shares, ${this.survivors.length * cols.length} expected`);
    this.opened = this.survivors.map((g, i) => cols.map((c, j) => reconstruct([this.held[g]![c]!, theirs[i * cols.length + j]!])));
    this.phase = 'labels';
    return NOTHING;
  }

  private onLabels(labels: readonly (readonly Cell[])[]): Step {
    if (this.phase !== 'labels') throw new ProtocolViolation('wrong-round', `labels in phase ${this.phase}`);
    if (labels.length !== this.survivors.length) throw new ProtocolViolation('bad-share-shape', `${labels.length} labels for ${this.survivors.length} released groups`);
    if (labels.some((l) => l.length !== this.p.plan.groupBy.length)) throw new ProtocolViolation('bad-share-shape', `labels must have ${this.p.plan.groupBy.length} values each`);
    const result = assembleResult(this.p.queryId, this.p.plan, labels, this.opened);
    this.finish();
    return { send: [], outcome: { kind: 'result', result } };
  }

  protected override finish(): void {
    super.finish();
    this.phase = 'done';
    this.own = [];
    this.pending = [];
    this.held = [];
  }
}
