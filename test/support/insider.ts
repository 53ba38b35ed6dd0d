/**
 * An insider: a client holding a member's real identity key. It runs the Handshake machine itself and seals with
 * ChannelCipher, so that it can put any plaintext (or any bytes at all) into a frame the node authenticates, and it
 * records everything the node sends back.
 */
import WebSocket from 'ws';
import { HandshakeMessage, WireMessage } from '../../src/wire/messages.js';
import type { Manifest } from '../../src/manifest/schema.js';
import type { Identity } from '../../src/manifest/identity.js';
import { ChannelCipher } from '../../src/transport/channel.js';
import { pad, unpad } from '../../src/transport/frame-padding.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { Handshake } from '../../src/transport/handshake.js';

export type InsiderEvent = { readonly kind: 'message'; readonly msg: WireMessage } | { readonly kind: 'undecodable'; readonly detail: string } | { readonly kind: 'closed'; readonly code: number };

export interface InsiderParams {
  readonly url: string;
  readonly identity: Identity;
  readonly manifest: Manifest;
  readonly manifestHash: Uint8Array;
  readonly peer: string;
}

export class Insider {
  readonly events: InsiderEvent[] = [];
  /** Every sealed frame sent, for replays. */
  readonly sent: Buffer[] = [];
  private listeners: (() => void)[] = [];

  private constructor(
    private readonly ws: WebSocket,
    private readonly sealer: ChannelCipher,
    opener: ChannelCipher,
  ) {
    ws.on('message', (data: Buffer) => {
      try {
        this.push({ kind: 'message', msg: decodeFrame(unpad(opener.open(data)), WireMessage, 'session') });
      } catch (err) {
        this.push({ kind: 'undecodable', detail: (err as Error).message });
      }
    });
    ws.on('close', (code: number) => this.push({ kind: 'closed', code }));
  }

  static connect(p: InsiderParams): Promise<Insider> {
    const ws = new WebSocket(p.url, { perMessageDeflate: false, maxPayload: 64 << 20 });
    const hs = new Handshake({ role: 'initiator', identity: p.identity, manifest: p.manifest, manifestHash: p.manifestHash, expectedPeer: p.peer });
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        ws.terminate();
        reject(new Error(`insider handshake with ${p.peer}: ${why}`));
      };
      ws.on('error', (err) => fail(err.message));
      ws.once('close', () => fail('closed'));
      const onMessage = (data: Buffer) => {
        try {
          const step = hs.receive(decodeFrame(data, HandshakeMessage, 'handshake'));
          for (const m of step.send) ws.send(encodeFrame(m));
          if (!step.established) return;
          ws.off('message', onMessage);
          ws.removeAllListeners('close');
          resolve(new Insider(ws, new ChannelCipher(step.established.sendKey), new ChannelCipher(step.established.receiveKey)));
        } catch (err) {
          fail((err as Error).message);
        }
      };
      ws.on('message', onMessage);
      ws.once('open', () => {
        for (const m of hs.start().send) ws.send(encodeFrame(m));
      });
    });
  }

  get closed(): boolean {
    return this.events.some((e) => e.kind === 'closed');
  }

  /** Pads, seals and sends any plaintext: a message, or bytes that are not one (SPEC §2 padding, as a node pads). */
  sendPlaintext(plaintext: Uint8Array): void {
    const frame = Buffer.from(this.sealer.seal(pad('plaintext', plaintext)));
    this.sent.push(frame);
    this.ws.send(frame);
  }

  send(msg: unknown): void {
    this.sendPlaintext(encodeFrame(msg));
  }

  /** Bytes as they are, outside the channel's sealing. */
  sendRaw(bytes: Uint8Array, binary = true): void {
    this.ws.send(bytes, { binary });
  }

  /** The first event from `from` on that `match` takes, waiting at most `ms` for it; undefined if none came. */
  async waitFor(match: (e: InsiderEvent) => boolean, ms: number, from = 0): Promise<InsiderEvent | undefined> {
    const found = () => this.events.slice(from).find(match);
    if (found() || this.closed) return found();
    return new Promise((resolve) => {
      const check = () => {
        const e = found();
        if (!e && !this.closed) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve(undefined);
      }, ms);
      this.listeners.push(check);
    });
  }

  close(): void {
    this.ws.terminate();
  }

  private push(e: InsiderEvent): void {
    this.events.push(e);
    for (const l of [...this.listeners]) l();
  }
}
