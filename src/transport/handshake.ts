import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { createHash, hkdfSync } from 'node:crypto';
import { PROTOCOL_VERSION, type HandshakeMessage, type Hello } from '../wire/messages.js';
import { CleanroomError } from '../errors.js';
import type { Manifest } from '../manifest/schema.js';
import type { Identity } from '../manifest/identity.js';

/**
 * The channel handshake as a pure state machine (SPEC §2), in the manner of js-libp2p-noise: messages in,
 * messages out, no I/O. Each side sends a hello with a fresh X25519 key, both derive channel keys from the
 * ephemeral Diffie-Hellman and the transcript, and each signs the transcript with its manifest identity key.
 * Nothing from a peer reaches protocol code before its signature verifies against the manifest.
 */
export interface ChannelKeys {
  readonly peer: string;
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
}

export interface HandshakeParams {
  readonly role: 'initiator' | 'responder';
  readonly identity: Identity;
  readonly manifest: Manifest;
  readonly manifestHash: Uint8Array;
  /** The initiator knows whom it dialled; the responder learns it from the hello. */
  readonly expectedPeer?: string;
  /**
   * The responder's endpoint hears of a hello that passed every check, before any key work and before anything is
   * sent, and throws to refuse it (too many connections claim that member, src/transport/preauth-pool.ts).
   */
  readonly admit?: (member: string) => void;
}

export interface HandshakeStep {
  readonly send: readonly HandshakeMessage[];
  readonly established?: ChannelKeys;
}

const AUTH_CONTEXT = new TextEncoder().encode('cleanroom/1 channel auth\n');
const KEY_INFO = 'cleanroom/1 channel keys';

export class Handshake {
  private readonly ephemeralSecret = x25519.utils.randomSecretKey();
  private readonly ownHello: Hello;
  private peerHello: Hello | undefined;
  /**
   * The peer's hello named another manifest. The handshake goes on so that the initiator can authenticate the
   * responder and tell its user both version numbers; no channel is ever established on it (receive of the auth).
   */
  private otherManifest = false;
  private transcript: Uint8Array | undefined;
  private keys: { i2r: Uint8Array; r2i: Uint8Array } | undefined;
  private done = false;

  constructor(private readonly p: HandshakeParams) {
    this.ownHello = {
      type: 'hello',
      version: PROTOCOL_VERSION,
      collaborationId: p.manifest.collaborationId,
      manifestHash: p.manifestHash,
      manifestVersion: p.manifest.version,
      member: p.identity.memberId,
      ephemeral: x25519.getPublicKey(this.ephemeralSecret),
    };
  }

  /**
   * Why the connection closed before the handshake ended. A responder refuses a hello by hanging up without a word
   * (SPEC §2: an unauthenticated peer learns nothing, not even which check failed), so an initiator refused that
   * way can only point to the responder's operator, whose log has the reason.
   */
  hungUp(): CleanroomError {
    if (this.peerHello && this.otherManifest) return authFailed(`${this.peerHello.member} (not yet authenticated) hung up on learning our manifest: ${this.versions(this.peerHello)}`);
    if (this.peerHello) return authFailed(`${this.peerHello.member} (not yet authenticated) closed the connection during the handshake`);
    if (this.p.role === 'initiator') {
      return authFailed(`${this.p.expectedPeer ?? 'the responder'} closed the connection during the handshake: it refused our hello (another collaboration, manifest version or identity); its operator's log says why`);
    }
    return authFailed('the peer closed the connection before its hello');
  }

  start(): HandshakeStep {
    return { send: this.p.role === 'initiator' ? [this.ownHello] : [] };
  }

  receive(msg: HandshakeMessage): HandshakeStep {
    if (this.done) throw authFailed('handshake message after the handshake ended');
    if (msg.type === 'hello') {
      if (this.peerHello) throw authFailed('second hello');
      this.checkHello(msg);
      this.otherManifest = !equalBytes(msg.manifestHash, this.p.manifestHash);
      // A hello naming another manifest claims no member's place in the preauth pool (preauth-pool.ts): it stays anonymous.
      if (!this.otherManifest) this.p.admit?.(msg.member);
      this.peerHello = msg;
      const [first, second] = this.p.role === 'initiator' ? [this.ownHello, msg] : [msg, this.ownHello];
      this.transcript = sha256(helloBytes(first), helloBytes(second));
      let shared: Uint8Array;
      try {
        shared = x25519.getSharedSecret(this.ephemeralSecret, msg.ephemeral);
      } catch {
        throw authFailed('the peer\'s ephemeral key is not a usable X25519 public key (small order)');
      }
      const okm = new Uint8Array(hkdfSync('sha256', shared, this.transcript, KEY_INFO, 64));
      shared.fill(0);
      this.ephemeralSecret.fill(0);
      this.keys = { i2r: okm.slice(0, 32), r2i: okm.slice(32) };
      // The channel ciphers own the two keys (and wipe them when the connection ends); the block they came from goes now.
      okm.fill(0);
      const auth: HandshakeMessage = { type: 'auth', signature: ed25519.sign(authMessage(this.p.role, this.transcript), this.p.identity.secretKey) };
      // On another manifest the initiator keeps its own auth: it only wants the responder's, to report both versions.
      return { send: this.p.role === 'responder' ? [this.ownHello, auth] : this.otherManifest ? [] : [auth] };
    }
    if (!this.peerHello || !this.transcript || !this.keys) throw authFailed('auth before hello');
    const peer = this.p.manifest.members.find((m) => m.id === this.peerHello!.member)!;
    const peerRole = this.p.role === 'initiator' ? 'responder' : 'initiator';
    if (!ed25519.verify(msg.signature, authMessage(peerRole, this.transcript), Buffer.from(peer.publicKey, 'hex'))) {
      throw authFailed(`${peer.id} did not prove its manifest identity key`);
    }
    if (this.otherManifest) throw authFailed(this.versions(this.peerHello));
    this.done = true;
    const { i2r, r2i } = this.keys;
    return {
      send: [],
      established: this.p.role === 'initiator' ? { peer: peer.id, sendKey: i2r, receiveKey: r2i } : { peer: peer.id, sendKey: r2i, receiveKey: i2r },
    };
  }

  private checkHello(h: Hello): void {
    if (h.collaborationId !== this.p.manifest.collaborationId) throw authFailed(`peer belongs to collaboration ${h.collaborationId}, not ${this.p.manifest.collaborationId}`);
    if (!this.p.manifest.members.some((m) => m.id === h.member)) throw authFailed(`${h.member} is not a member of the collaboration`);
    if (h.member === this.p.identity.memberId) throw authFailed('peer claims this node\'s own identity');
    if (this.p.expectedPeer !== undefined && h.member !== this.p.expectedPeer) throw authFailed(`dialled ${this.p.expectedPeer} but ${h.member} answered`);
  }

  /** `this node runs manifest v3, the peer bob v2`: what both operators need to tell who has to load which file. */
  private versions(h: Hello): string {
    const ours = this.p.manifest.version;
    const same = h.manifestVersion === ours ? ` too, but another one (hash ${hexShort(h.manifestHash)}, ours ${hexShort(this.p.manifestHash)})` : '';
    return `this node runs manifest v${ours}, the peer ${h.member} v${h.manifestVersion}${same}: every member must sign and load the same version`;
  }
}

/** Length-prefixed fields, so that no two different hellos serialise alike. */
function helloBytes(h: Hello): Uint8Array {
  const enc = new TextEncoder();
  const version = new Uint8Array(4);
  new DataView(version.buffer).setUint32(0, h.manifestVersion);
  const parts = [Uint8Array.of(h.version), enc.encode(h.collaborationId), h.manifestHash, version, enc.encode(h.member), h.ephemeral];
  return Buffer.concat(parts.flatMap((p) => [Uint8Array.of(p.length >> 8, p.length & 0xff), p]));
}

function authMessage(role: 'initiator' | 'responder', transcript: Uint8Array): Uint8Array {
  return Buffer.concat([AUTH_CONTEXT, Uint8Array.of(role === 'initiator' ? 0 : 1), transcript]);
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function hexShort(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').slice(0, 16);
}

function authFailed(message: string): CleanroomError {
  return new CleanroomError('AUTH_FAILED', message, { peerFault: true });
}
