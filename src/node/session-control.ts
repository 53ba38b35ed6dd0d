import type { SessionMessage } from '../wire/messages.js';
import { CleanroomError, asCleanroomError, forPeer } from '../errors.js';
import { KEEPALIVE_MS, STAGE_IDLE_TIMEOUT_MS } from '../limits.js';
import type { Outcome } from '../session/step.js';
import type { PeerConnection } from '../transport/connection.js';

/** How often the session checks for silence; its limit is STAGE_IDLE_TIMEOUT_MS. */
const WATCHDOG_PERIOD_MS = 1000;

/**
 * What every driver of a query session shares: the outcome, settled once; the abort that tells every peer when
 * this node fails; and the loops that take each peer's messages off its connection until the session ends.
 */
export class SessionControl {
  outcome: Outcome | undefined;
  readonly done: Promise<Outcome>;
  private resolveDone!: (o: Outcome) => void;
  private readonly stop = new AbortController();
  private lastProgress = Date.now();
  private lastKeepalive = Date.now();
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly queryId: string,
    private readonly conns: ReadonlyMap<string, PeerConnection>,
    private readonly onSettle: () => void = () => {},
    idleTimeoutMs: number = STAGE_IDLE_TIMEOUT_MS,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    // Silence is judged for the session, not per link: in a ring some links are quiet by design for most of a query.
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastProgress > idleTimeoutMs) {
        this.fail(new CleanroomError('TIMEOUT', `no message and no local progress for ${idleTimeoutMs} ms`, { peerFault: true }));
      }
    }, Math.min(WATCHDOG_PERIOD_MS, idleTimeoutMs));
    this.watchdog.unref();
  }

  /** Something moved: a message arrived or local work finished. */
  touch(): void {
    this.lastProgress = Date.now();
  }

  /**
   * Local work that has no result to count until it ends (DuckDB reading, sorting and aggregating a table: minutes at
   * 10M rows): progress every KEEPALIVE_MS while it runs, so that neither this node's silence limit nor its peers'
   * cuts it off. A peer that is gone still shows: its messages stop, and this work ends.
   */
  async working<T>(work: () => Promise<T>): Promise<T> {
    const beat = setInterval(() => this.progressed(), KEEPALIVE_MS);
    try {
      return await work();
    } finally {
      clearInterval(beat);
    }
  }

  /** Local work finished: it counts as progress here, and every peer hears of it at most every KEEPALIVE_MS. */
  progressed(): void {
    this.touch();
    if (this.outcome || this.lastProgress - this.lastKeepalive < KEEPALIVE_MS) return;
    this.lastKeepalive = this.lastProgress;
    for (const c of this.conns.values()) c.send({ type: 'keepalive', queryId: this.queryId }).catch(() => {});
  }

  settle(o: Outcome): void {
    if (this.outcome) return;
    this.outcome = o;
    clearInterval(this.watchdog);
    this.onSettle();
    this.stop.abort();
    this.resolveDone(o);
  }

  /** This node failed: the session ends here and every peer is told, so that nothing further is opened anywhere. */
  fail(err: unknown): void {
    if (this.outcome) return;
    const e = asCleanroomError(err);
    this.settle({ kind: 'failed', error: e });
    for (const c of this.conns.values()) c.send({ type: 'abort', queryId: this.queryId, ...forPeer(e) }).catch(() => {});
  }

  /**
   * Hands every peer's messages to `onMessage`, in arrival order per peer, the next once the last one's promise (if
   * any) settles, until the session ends. A peer whose part is over says `bye` before it closes; if every peer has done so and `settled` (the
   * work already queued) brings no outcome, this member cannot complete.
   */
  listen(onMessage: (peer: string, m: SessionMessage) => void | Promise<void>, settled: () => Promise<unknown>): void {
    let listening = this.conns.size;
    for (const [peer, conn] of this.conns) {
      void (async () => {
        try {
          while (!this.outcome) {
            let msg: SessionMessage | null;
            try {
              msg = await conn.nextOf(undefined, () => true, this.stop.signal);
            } catch (err) {
              if (!conn.peerFinished) this.fail(err);
              return;
            }
            if (!msg || this.outcome) return;
            this.touch();
            // A message whose work is still queued holds the next one back: unread, they stay in the socket, and TCP
            // slows the sender down instead of this node queueing a whole peer set for its workers.
            if (msg.type !== 'keepalive') await onMessage(peer, msg);
          }
        } finally {
          if (--listening === 0) void settled().then(() => this.fail(new CleanroomError('ABORTED', 'every other member ended its part before this one was complete')));
        }
      })();
    }
  }
}
