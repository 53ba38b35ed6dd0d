import { PROGRESS_INTERVAL_MS, PROGRESS_MIN_RATE_MS } from '../limits.js';
import { WIRE_POINT_BYTES, type SessionMessage } from '../wire/messages.js';

import { OWN_STEPS, type OwnStep, type PeerActivity } from '../control/control-event.js';

export { OWN_STEPS, type OwnStep, type PeerActivity };

export interface PeerView {
  readonly member: string;
  readonly activity: PeerActivity;
  /** Points of the stream under way, against its count once its end marker (or this node's own count) tells it. */
  readonly done?: number;
  readonly total?: number;
}

export interface ProgressView {
  readonly step: OwnStep;
  readonly elapsedMs: number;
  /** What the step counts (keys hashed, keys or points blinded), against its total where known. */
  readonly done?: number;
  readonly total?: number;
  /** Time left in this step, where a rate is measurable and the total known. */
  readonly etaMs?: number;
  readonly peers: readonly PeerView[];
}

/**
 * Time left at the rate measured since the step began: undefined without a total, before any work was done, or
 * before PROGRESS_MIN_RATE_MS have passed (a rate over a few milliseconds says nothing).
 */
export function estimateMs(done: number, total: number | undefined, stepMs: number): number | undefined {
  if (total === undefined || done <= 0 || stepMs < PROGRESS_MIN_RATE_MS) return undefined;
  if (done >= total) return 0;
  return Math.round(((total - done) * stepMs) / done);
}

interface Stream {
  done: number;
  total?: number;
  ended: boolean;
}

interface PeerState {
  activity: PeerActivity;
  streams: Map<string, Stream>;
  current?: string;
}

/**
 * A query's progress on this node, fed by its driver; `emit` gets a view on every change of step and otherwise at
 * most once per PROGRESS_INTERVAL_MS (also while nothing moves, so the elapsed time goes on). Counts only what this
 * node has: its own keys, and the points and end markers it sent and received.
 */
export class ProgressTracker {
  private step: OwnStep = 'reading';
  private stepStarted: number;
  private readonly started: number;
  private hashed = 0;
  private ownDone = 0;
  private ownTotal: number | undefined;
  private ownEnded = false;
  private ownPending = 0;
  private peerPending = 0;
  private peerDone = 0;
  private peerReceived = 0;
  /** Streams of the peers' own points (not this node's coming back): seen, and not yet ended. */
  private peerStreamsSeen = 0;
  private peerStreamsOpen = 0;
  /** Points of this node's streams, by stage: what a peer's returned stream holds. */
  private readonly sentCounts = new Map<string, number>();
  private readonly peers = new Map<string, PeerState>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly self: string,
    peers: readonly string[],
    private readonly emit: (v: ProgressView) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.started = this.stepStarted = now();
    for (const p of peers) this.peers.set(p, { activity: 'waiting', streams: new Map() });
    this.timer = setInterval(() => this.report(), PROGRESS_INTERVAL_MS);
    this.timer.unref();
    this.report();
  }

  end(): void {
    clearInterval(this.timer);
  }

  /** Keys newly hashed into the hash cache. */
  hashing(keys: number): void {
    this.hashed += keys;
    this.advance('hashing');
  }

  /** This node's distinct keys, once counted. */
  ownKeys(total: number): void {
    this.ownTotal = total;
  }

  /** Multiplications started: of this node's own keys, or of points a peer sent. */
  blindStarted(own: boolean, points: number): void {
    if (own) this.ownPending += points;
    else this.peerPending += points;
    if (own) this.advance('blinding-own');
    this.afterOwn();
  }

  blindDone(own: boolean, points: number): void {
    if (own) {
      this.ownDone += points;
      this.ownPending -= points;
    } else {
      this.peerDone += points;
      this.peerPending -= points;
    }
    this.afterOwn();
  }

  ownStreamEnded(): void {
    this.ownEnded = true;
    this.ownTotal ??= this.ownDone + this.ownPending;
    this.afterOwn();
  }

  /** Once this node's own keys are all blinded, the peers' points are what it works on (they overlap before). */
  private afterOwn(): void {
    if (this.ownEnded && this.ownPending === 0 && this.peerPending > 0) this.advance('blinding-peer');
  }

  aggregating(): void {
    this.advance('aggregating');
  }

  sent(msg: SessionMessage): void {
    if (msg.type === 'points-end') this.sentCounts.set(msg.stage, msg.count);
    if (msg.type === 'ring-end' && msg.set === this.self) this.sentCounts.set('ring', msg.count);
    if (msg.type === 'shares' || msg.type === 'open' || msg.type === 'labels') this.advance('releasing');
  }

  /** After a message went to `to`: a peer with no stream of its own under way is now working on what this node sent. */
  sentTo(to: string, msg: SessionMessage): void {
    const peer = this.peers.get(to);
    // Shares and openings sent: the peer now opens its part (set before the step's change is reported).
    if (peer && (msg.type === 'shares' || msg.type === 'open' || msg.type === 'labels')) peer.activity = 'releasing';
    this.sent(msg);
    if (!peer || (msg.type !== 'points-end' && msg.type !== 'ring-end')) return;
    const open = [...peer.streams.values()].some((s) => !s.ended);
    if (!open && peer.activity !== 'releasing') peer.activity = msg.type === 'points-end' && msg.stage === 'pq' ? 'matching' : 'blinding';
  }

  received(from: string, msg: SessionMessage): void {
    const peer = this.peers.get(from);
    if (!peer) return;
    switch (msg.type) {
      case 'points':
      case 'ring': {
        const key = msg.type === 'points' ? msg.stage : `${msg.set}/${msg.stage}`;
        const mine = msg.type === 'points' ? msg.stage === 'pq' : msg.set === this.self && msg.stage === 'final';
        let s = peer.streams.get(key);
        if (!s) {
          s = { done: 0, ended: false, total: mine ? this.sentCounts.get(msg.type === 'points' ? 'p' : 'ring') : undefined };
          peer.streams.set(key, s);
          if (!mine) this.opened();
        }
        const n = msg.points.length / WIRE_POINT_BYTES;
        s.done += n;
        if (!mine) this.peerReceived += n;
        peer.current = key;
        peer.activity = mine ? 'returning-points' : 'sending-points';
        return;
      }
      case 'points-end':
      case 'ring-end': {
        const key = msg.type === 'points-end' ? msg.stage : `${msg.set}/${msg.stage}`;
        const mine = msg.type === 'points-end' ? msg.stage === 'pq' : msg.set === this.self && msg.stage === 'final';
        const s = peer.streams.get(key) ?? { done: msg.count, ended: false };
        if (!peer.streams.has(key) && !mine) this.opened();
        peer.streams.set(key, s);
        s.total = msg.count;
        if (!s.ended && !mine) this.peerStreamsOpen -= 1;
        s.ended = true;
        peer.current = key;
        if (mine) this.advance('matching');
        return;
      }
      case 'shares':
      case 'open':
      case 'labels':
        peer.activity = 'releasing';
        this.advance('releasing');
        return;
      default:
        return;
    }
  }

  view(): ProgressView {
    const now = this.now();
    const counts = this.counts();
    const etaMs = counts && estimateMs(counts.done, counts.total, now - this.stepStarted);
    const peers = [...this.peers].map(([member, p]): PeerView => {
      const s = p.current === undefined ? undefined : p.streams.get(p.current);
      const streaming = p.activity === 'sending-points' || p.activity === 'returning-points';
      return { member, activity: p.activity, ...(streaming && s ? { done: s.done, ...(s.total === undefined ? {} : { total: s.total }) } : {}) };
    });
    return { step: this.step, elapsedMs: now - this.started, ...counts, ...(etaMs === undefined ? {} : { etaMs }), peers };
  }

  private counts(): { done: number; total?: number } | undefined {
    switch (this.step) {
      case 'hashing':
        return { done: this.hashed };
      case 'blinding-own':
        return { done: this.ownDone, ...(this.ownTotal === undefined ? {} : { total: this.ownTotal }) };
      case 'blinding-peer':
        return { done: this.peerDone, ...(this.peerStreamsSeen > 0 && this.peerStreamsOpen === 0 ? { total: this.peerReceived } : {}) };
      default:
        return undefined;
    }
  }

  private opened(): void {
    this.peerStreamsSeen += 1;
    this.peerStreamsOpen += 1;
  }

  /** Moves to `step` unless the query is past it already; a change is reported at once. */
  private advance(step: OwnStep): void {
    if (OWN_STEPS.indexOf(step) <= OWN_STEPS.indexOf(this.step)) return;
    this.step = step;
    this.stepStarted = this.now();
    this.report();
  }

  /** Progress is told, never relied on: a listener gone (a client that hung up) must not fail the query. */
  private report(): void {
    try {
      this.emit(this.view());
    } catch {
      // The query goes on; its outcome still reaches the audit log and the result file.
    }
  }
}
