import WebSocket from 'ws';
import { HandshakeMessage, SessionMessage } from '../../protocol/messages.js';
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
  private waiter: { resolve: (m: SessionMessage) => void; reject: (e: CleanroomError) => void } | undefined;
  private failure: CleanroomError | undefined;

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
  async send(msg: SessionMessage): Promise<void> {
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
  next(timeoutMs: number): Promise<SessionMessage> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new CleanroomError('TIMEOUT', `${this.peer} sent nothing for ${timeoutMs} ms`, { peerFault: true }));
      }, timeoutMs);
      this.waiter = {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  close(): void {
    this.failure ??= new CleanroomError('ABORTED', 'connection closed');
    this.ws.close(1000);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.failure) return;
    try {
      if (!isBinary) throw new CleanroomError('PROTOCOL_VIOLATION', 'text frame on a binary protocol', { peerFault: true });
      const plaintext = this.opener.open(data);
      this.tap?.('in', plaintext);
      const msg = decodeFrame(plaintext, SessionMessage, 'session');
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w.resolve(msg);
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
