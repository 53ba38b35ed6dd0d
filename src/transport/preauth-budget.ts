import type { Socket } from 'node:net';
import { CleanroomError } from '../errors.js';
import { HANDSHAKE_TIMEOUT_MS, PREAUTH_MAX_BYTES } from '../limits.js';

/**
 * What a connection may cost before its peer has proved a manifest identity: HANDSHAKE_TIMEOUT_MS from its start,
 * and PREAUTH_MAX_BYTES received once it speaks WebSocket (the HTTP upgrade before that is bounded by the server's
 * header limits). Whoever holds the connection is told of an overrun and ends it; a verified signature, or the
 * socket closing, ends the budget.
 */
export class PreauthBudget {
  private received = 0;
  private ended = false;
  private readonly timer: NodeJS.Timeout;

  /** `onOverrun` hears of an overrun until the handshake takes over (a server's HTTP upgrade). */
  constructor(
    private readonly socket: Socket,
    private onOverrun: (err: CleanroomError) => void = () => socket.destroy(),
  ) {
    this.timer = setTimeout(() => this.overrun(new CleanroomError('TIMEOUT', `the peer did not authenticate within ${HANDSHAKE_TIMEOUT_MS} ms`, { peerFault: true })), HANDSHAKE_TIMEOUT_MS);
    socket.once('close', () => this.end());
  }

  /**
   * The WebSocket handshake runs from here: it hears of overruns, and received bytes count. Must be called once the
   * WebSocket reads the socket: this listener then runs after the WebSocket's own for each chunk, and ws emits
   * messages synchronously, so the chunk whose auth frame completes the handshake (and may carry the first session
   * frame) is read after the budget ended, never counted against it.
   */
  handOver(onOverrun: (err: CleanroomError) => void): void {
    this.onOverrun = onOverrun;
    if (!this.ended) this.socket.on('data', this.count);
  }

  /** The peer authenticated, or the connection is over: no limit of this budget applies any more. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.socket.off('data', this.count);
  }

  private readonly count = (chunk: Buffer): void => {
    // A listener removed while the socket emits a chunk is still called for that chunk.
    if (this.ended) return;
    this.received += chunk.length;
    if (this.received > PREAUTH_MAX_BYTES) this.overrun(new CleanroomError('LIMIT_EXCEEDED', `the peer sent more than ${PREAUTH_MAX_BYTES} bytes before authenticating`, { peerFault: true }));
  };

  private overrun(err: CleanroomError): void {
    this.end();
    this.onOverrun(err);
  }
}
