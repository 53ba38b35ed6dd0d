import WebSocket from 'ws';
import { HandshakeMessage, WireMessage, type SessionMessage } from '../../protocol/messages.js';
import { CleanroomError, asCleanroomError } from '../errors.js';
import { HANDSHAKE_TIMEOUT_MS, MAX_FRAME_BYTES, SEND_HIGH_WATER_BYTES } from '../limits.js';
import { ChannelCipher, MAX_SEALED_FRAME_BYTES } from './channel.js';
import { decodeFrame, encodeFrame } from './codec.js';
import { Handshake, type HandshakeParams } from './handshake.js';

/** Sees the plaintext of every frame this node sends or receives (the privacy tests record them). */
export type FrameTap = (direction: 'in' | 'out', plaintext: Uint8Array) => void;

export type ConnectionParams = Omit<HandshakeParams, 'role' | 'expectedPeer'> & { readonly tap?: FrameTap };

/**
 * The thin driver around one WebSocket: runs the handshake state machine, then seals and opens session frames.
 * Every inbound frame is decoded and validated here, once; callers only ever see typed messages.
 */
export class PeerConnection {
  private inbox: SessionMessage[] = [];
  private waiter: { accept: (m: SessionMessage) => boolean; resolve: (m: SessionMessage | null) => void; reject: (e: CleanroomError) => void } | undefined;
  private failure: CleanroomError | undefined;
  /** The peer said `bye`: its part is over, and its close is expected. */
  peerFinished = false;

  private constructor(
    private readonly ws: WebSocket,
    readonly peer: string,
    private readonly sealer: ChannelCipher,
    private readonly opener: ChannelCipher,
    private readonly tap: FrameTap | undefined,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('close', () => this.fail(new CleanroomError('ABORTED', `${peer} closed the connection`)));
    ws.on('error', (err) => this.fail(new CleanroomError('PEER_UNREACHABLE', `connection to ${peer}: ${err.message}`)));
  }

  static async dial(url: string, expectedPeer: string, params: ConnectionParams): Promise<PeerConnection> {
    const ws = new WebSocket(url, { maxPayload: MAX_SEALED_FRAME_BYTES, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', (err) => reject(new CleanroomError('PEER_UNREACHABLE', `cannot reach ${expectedPeer} at ${url}: ${err.message}`)));
    });
    return PeerConnection.handshake(ws, new Handshake({ ...params, role: 'initiator', expectedPeer }), params.tap);
  }

  static accept(ws: WebSocket, params: ConnectionParams): Promise<PeerConnection> {
    return PeerConnection.handshake(ws, new Handshake({ ...params, role: 'responder' }), params.tap);
  }

  private static handshake(ws: WebSocket, hs: Handshake, tap: FrameTap | undefined): Promise<PeerConnection> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => abort(new CleanroomError('TIMEOUT', `handshake did not finish within ${HANDSHAKE_TIMEOUT_MS} ms`, { peerFault: true })), HANDSHAKE_TIMEOUT_MS);
      const cleanup = () => {
        clearTimeout(timer);
        ws.off('message', onMessage);
        ws.off('close', onClose);
      };
      const abort = (err: CleanroomError) => {
        cleanup();
        if (err.code === 'AUTH_FAILED' && ws.readyState === WebSocket.OPEN) send(hs.refusal());
        ws.close(1008, err.code);
        reject(err);
      };
      const send = (msgs: readonly HandshakeMessage[]) => {
        for (const m of msgs) {
          const bytes = encodeFrame(m);
          tap?.('out', bytes);
          ws.send(bytes);
        }
      };
      const onClose = () => abort(new CleanroomError('AUTH_FAILED', 'the peer closed the connection during the handshake', { peerFault: true }));
      const onMessage = (data: Buffer) => {
        try {
          tap?.('in', data);
          const step = hs.receive(decodeFrame(data, HandshakeMessage, 'handshake'));
          send(step.send);
          if (step.established) {
            cleanup();
            const k = step.established;
            resolve(new PeerConnection(ws, k.peer, new ChannelCipher(k.sendKey), new ChannelCipher(k.receiveKey), tap));
          }
        } catch (err) {
          abort(asCleanroomError(err));
        }
      };
      ws.on('message', onMessage);
      ws.on('close', onClose);
      send(hs.start().send);
    });
  }

  /** Sends one message; waits for the socket to drain when too much is buffered, so producers slow down. */
  async send(msg: WireMessage): Promise<void> {
    if (this.failure) throw this.failure;
    const plaintext = encodeFrame(msg);
    // The peer would refuse it as a violation; failing here keeps the fault where it is.
    if (plaintext.length > MAX_FRAME_BYTES) throw new CleanroomError('LIMIT_EXCEEDED', `a ${msg.type} frame of ${plaintext.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte frame limit`);
    this.tap?.('out', plaintext);
    const frame = this.sealer.seal(plaintext);
    await new Promise<void>((resolve, reject) => {
      const wait = this.ws.bufferedAmount > SEND_HIGH_WATER_BYTES;
      this.ws.send(frame, (err) => {
        if (err) reject(new CleanroomError('PEER_UNREACHABLE', `send to ${this.peer} failed: ${err.message}`));
        else if (wait) resolve();
      });
      if (!wait) resolve();
    });
  }

  /** The next inbound message, or a TIMEOUT error after `timeoutMs` of silence. */
  async next(timeoutMs: number): Promise<SessionMessage> {
    return (await this.nextOf(timeoutMs, () => true))!;
  }

  /**
   * The next inbound message that `accept` takes, leaving others queued for whoever asks for them (two protocol
   * phases can share a connection); null once `signal` aborts, which also leaves the message queued.
   */
  nextOf(timeoutMs: number | undefined, accept: (m: SessionMessage) => boolean, signal?: AbortSignal): Promise<SessionMessage | null> {
    const i = this.inbox.findIndex(accept);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.failure) return Promise.reject(this.failure);
    if (signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiter = undefined;
      };
      const onAbort = () => (done(), resolve(null));
      // Without a timeout the caller watches for silence itself (a session-wide watchdog).
      const timer =
        timeoutMs === undefined ? undefined : setTimeout(() => (done(), reject(new CleanroomError('TIMEOUT', `${this.peer} sent nothing for ${timeoutMs} ms`, { peerFault: true }))), timeoutMs);
      signal?.addEventListener('abort', onAbort);
      this.waiter = { accept, resolve: (m) => (done(), resolve(m)), reject: (e) => (done(), reject(e)) };
    });
  }

  /**
   * Closes the connection, saying `bye` when this node's part ended well (the peer then takes the close as
   * expected) or sending `abort` when the query failed here, so that the peer fails too instead of waiting.
   */
  close(abort?: Extract<SessionMessage, { type: 'abort' }>): void {
    if (!this.failure && this.ws.readyState === WebSocket.OPEN) this.send(abort ?? { type: 'bye' }).catch(() => {});
    this.fail(new CleanroomError('ABORTED', 'connection closed'));
    this.ws.close(1000);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.failure) return;
    try {
      if (!isBinary) throw new CleanroomError('PROTOCOL_VIOLATION', 'text frame on a binary protocol', { peerFault: true });
      const plaintext = this.opener.open(data);
      this.tap?.('in', plaintext);
      const msg = decodeFrame(plaintext, WireMessage, 'session');
      if (msg.type === 'bye') {
        this.peerFinished = true;
        return;
      }
      const w = this.waiter;
      if (w?.accept(msg)) w.resolve(msg);
      else this.inbox.push(msg);
    } catch (err) {
      const e = asCleanroomError(err);
      this.fail(e);
      this.ws.close(1008, e.code);
    }
  }

  private fail(err: CleanroomError): void {
    if (this.failure) return;
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}
