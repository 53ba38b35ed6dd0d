import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { HandshakeMessage, WireMessage, type SessionMessage } from '../wire/messages.js';
import { failpoint } from '../failpoint.js';
import { CleanroomError, ProtocolViolation, asCleanroomError } from '../errors.js';
import { HANDSHAKE_TIMEOUT_MS, INBOUND_HIGH_WATER_BYTES, MAX_FRAME_BYTES, SEND_HIGH_WATER_BYTES } from '../limits.js';
import { ChannelCipher, MAX_SEALED_FRAME_BYTES } from './channel.js';
import { pad, unpad } from './frame-padding.js';
import { decodeFrame, encodeFrame } from '../wire/codec.js';
import { Handshake, type HandshakeParams } from './handshake.js';
import { PreauthBudget } from './preauth-budget.js';

/** Sees the plaintext of every frame this node sends or receives (the privacy tests record them). */
export type FrameTap = (direction: 'in' | 'out', plaintext: Uint8Array) => void;

export type ConnectionParams = Omit<HandshakeParams, 'role' | 'expectedPeer' | 'admit'> & { readonly tap?: FrameTap };

/**
 * The thin driver around one WebSocket: runs the handshake state machine, then seals and opens session frames.
 * Every inbound frame is decoded and validated here, once; callers only ever see typed messages.
 */
export class PeerConnection {
  /** Messages nobody has asked for yet, with their frame sizes: two phases can share a connection. */
  private inbox: { readonly msg: SessionMessage; readonly bytes: number }[] = [];
  private queuedBytes = 0;
  private paused = false;
  private waiter: { accept: (m: SessionMessage) => boolean; resolve: (m: SessionMessage | null) => void; reject: (e: CleanroomError) => void } | undefined;
  private failure: CleanroomError | undefined;
  private abortSent = false;
  /** The peer said `bye`: its part is over, and its close is expected. */
  peerFinished = false;
  /** Settles with the reason once the connection failed or closed: a holder that reads nothing can still let go. */
  readonly ended: Promise<CleanroomError>;
  private settleEnded!: (err: CleanroomError) => void;
  /**
   * The manifest and identity this connection's handshake authenticated against: a query on it plans by that
   * manifest, though the node may have loaded a newer one since (src/node/manifest-watch.ts).
   */
  params!: ConnectionParams;

  private constructor(
    private readonly ws: WebSocket,
    readonly peer: string,
    private readonly sealer: ChannelCipher,
    private readonly opener: ChannelCipher,
    private readonly tap: FrameTap | undefined,
  ) {
    this.ended = new Promise((resolve) => (this.settleEnded = resolve));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('close', () => this.fail(new CleanroomError('ABORTED', `${peer} closed the connection`)));
    ws.on('error', (err) => this.fail(new CleanroomError('PEER_UNREACHABLE', `connection to ${peer}: ${err.message}`)));
  }

  static dial(url: string, expectedPeer: string, params: ConnectionParams): Promise<PeerConnection> {
    // Messages are emitted synchronously (PreauthBudget relies on it), as ws does by default.
    const ws = new WebSocket(url, { maxPayload: MAX_SEALED_FRAME_BYTES, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, perMessageDeflate: false, allowSynchronousEvents: true });
    return new Promise((resolve, reject) => {
      let upgraded: Socket | undefined;
      ws.once('upgrade', (res) => (upgraded = res.socket));
      // Within the 'open' event itself: frames that came with the upgrade response are read right after it, and
      // must find the handshake listening.
      ws.once('open', () => resolve(PeerConnection.handshake(ws, new PreauthBudget(upgraded!), new Handshake({ ...params, role: 'initiator', expectedPeer }), params)));
      // Never removed: an error the WebSocket reports once the handshake or the session listens is also theirs, and
      // an 'error' without any listener would end the process.
      ws.on('error', (err) => reject(new CleanroomError('PEER_UNREACHABLE', `cannot reach ${expectedPeer} at ${url}: ${err.message}`)));
    });
  }

  /**
   * A WebSocket a peer opened to this node, with the budget its connection has had since TCP accept; `admit` hears
   * of its hello once it passed every check, and throws to refuse it.
   */
  static accept(ws: WebSocket, budget: PreauthBudget, params: ConnectionParams, admit?: (member: string) => void): Promise<PeerConnection> {
    return PeerConnection.handshake(ws, budget, new Handshake({ ...params, role: 'responder', admit }), params);
  }

  /**
   * Runs the handshake within the budget. A refused peer is cut off without a word (SPEC §2): an unauthenticated
   * peer learns nothing, and its socket is gone at once rather than after a closing exchange it may never finish.
   */
  private static handshake(ws: WebSocket, budget: PreauthBudget, hs: Handshake, params: ConnectionParams): Promise<PeerConnection> {
    const tap = params.tap;
    return new Promise((resolve, reject) => {
      let over = false;
      const finish = () => {
        over = true;
        budget.end();
        ws.off('message', onMessage);
        ws.off('close', onClose);
      };
      const abort = (err: CleanroomError) => {
        if (over) return;
        finish();
        ws.terminate();
        reject(err);
      };
      const send = (msgs: readonly HandshakeMessage[]) => {
        for (const m of msgs) {
          const bytes = encodeFrame(m);
          tap?.('out', bytes);
          ws.send(bytes);
        }
      };
      const onClose = () => abort(hs.hungUp());
      const onMessage = (data: Buffer, isBinary: boolean) => {
        try {
          if (!isBinary) throw new ProtocolViolation('malformed-frame', 'text frame on a binary protocol');
          tap?.('in', data);
          const step = hs.receive(decodeFrame(data, HandshakeMessage, 'handshake'));
          send(step.send);
          if (step.established) {
            finish();
            const k = step.established;
            const conn = new PeerConnection(ws, k.peer, new ChannelCipher(k.sendKey), new ChannelCipher(k.receiveKey), tap);
            conn.params = params;
            resolve(conn);
          }
        } catch (err) {
          abort(asCleanroomError(err));
        }
      };
      ws.on('message', onMessage);
      ws.on('close', onClose);
      // Never removed: frames that arrived in the same chunk as the last one read can still fail in ws after
      // the handshake ended, and an 'error' without any listener would end the process.
      ws.on('error', (err) => abort(new ProtocolViolation('malformed-frame', `WebSocket error during the handshake: ${err.message}`)));
      budget.handOver(abort);
      send(hs.start().send);
    });
  }

  /** Sends one message; waits for the socket to drain when too much is buffered, so producers slow down. */
  async send(msg: WireMessage): Promise<void> {
    if (this.failure) throw this.failure;
    // One abort per failure (SPEC §6): the machine, the session and the node may each report the same one.
    if (msg.type === 'abort') {
      if (this.abortSent) return;
      this.abortSent = true;
    }
    failpoint(`send:${msg.type}`);
    const plaintext = encodeFrame(msg);
    // The peer would refuse it as a violation; failing here keeps the fault where it is.
    if (plaintext.length > MAX_FRAME_BYTES) throw new CleanroomError('LIMIT_EXCEEDED', `a ${msg.type} frame of ${plaintext.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte frame limit`, { dataDependent: true });
    this.tap?.('out', plaintext);
    const frame = this.sealer.seal(pad(msg.type, plaintext));
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
    const i = this.inbox.findIndex((q) => accept(q.msg));
    if (i >= 0) return Promise.resolve(this.take(i));
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
    // After an abort, nothing more: a `bye` would say this part ended well.
    if (!this.failure && !this.abortSent && this.ws.readyState === WebSocket.OPEN) this.send(abort ?? { type: 'bye' }).catch(() => {});
    this.fail(new CleanroomError('ABORTED', 'connection closed'));
    this.ws.close(1000);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.failure) return;
    try {
      if (!isBinary) throw new ProtocolViolation('malformed-frame', 'text frame on a binary protocol');
      const plaintext = unpad(this.opener.open(data));
      this.tap?.('in', plaintext);
      const msg = decodeFrame(plaintext, WireMessage, 'session');
      if (msg.type === 'bye') {
        this.peerFinished = true;
        return;
      }
      const w = this.waiter;
      if (w?.accept(msg)) w.resolve(msg);
      else this.queue(msg, plaintext.length);
    } catch (err) {
      const e = asCleanroomError(err);
      this.fail(e);
      this.ws.close(1008, e.code);
    }
  }

  /**
   * Keeps a message for whoever asks for it. Beyond INBOUND_HIGH_WATER_BYTES the socket stops being read, so TCP
   * makes the peer wait: a peer that sends what nobody takes (on a parked join, or ahead of its round) holds its
   * own memory, not this node's.
   */
  private queue(msg: SessionMessage, bytes: number): void {
    this.inbox.push({ msg, bytes });
    this.queuedBytes += bytes;
    if (!this.paused && this.queuedBytes > INBOUND_HIGH_WATER_BYTES) {
      this.paused = true;
      this.ws.pause();
    }
  }

  private take(i: number): SessionMessage {
    const [{ msg, bytes }] = this.inbox.splice(i, 1) as [{ msg: SessionMessage; bytes: number }];
    this.queuedBytes -= bytes;
    if (this.paused && this.queuedBytes <= INBOUND_HIGH_WATER_BYTES / 2) {
      this.paused = false;
      this.ws.resume();
    }
    return msg;
  }

  private fail(err: CleanroomError): void {
    if (this.failure) return;
    this.failure = err;
    // Nothing is sealed or opened after the first failure (send and onFrame check it): the keys can go now.
    this.sealer.wipe();
    this.opener.wipe();
    this.settleEnded(err);
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}
