import type { SessionMessage } from '../wire/messages.js';
import { shufflePoints } from '../crypto/shuffle.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import type { Release } from './release.js';
import { Session, type SessionParams, pairRelease } from './session.js';
import { InboundStream, OutboundStream } from './point-stream.js';
import { NOTHING, type Step } from './step.js';

type Phase = 'psi' | 'holding' | 'done';

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
  private readonly release: Release;

  constructor(p: SessionParams) {
    super(p);
    this.release = pairRelease(p, p.peer);
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
      case 'open':
      case 'labels':
        return this.released(this.release.receive(this.p.peer, msg));
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
    this.release.start();
    return send;
  }

  /** Joined with a federated table, this member's part ends with the PSI: the holders aggregate among themselves. */
  private ending(send: SessionMessage[]): Step {
    if (this.p.plan.mode !== 'federated' || !this.pqEnded || this.phase !== 'holding') return { send };
    this.finish();
    return { send, outcome: { kind: 'joined' } };
  }

  protected override finish(): void {
    super.finish();
    this.phase = 'done';
    this.own = [];
    this.pending = [];
    this.release.end();
  }
}
