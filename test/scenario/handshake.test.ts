/**
 * The channel handshake (two pure Handshake machines talking through msgpack frames and the HandshakeMessage
 * schema) and the ChannelCipher that protects every session frame after it.
 */
import { describe, expect, it } from 'vitest';
import { HandshakeMessage, PROTOCOL_VERSION } from '../../src/wire/messages.js';
import { CleanroomError } from '../../src/errors.js';
import { manifestHash } from '../../src/manifest/canonical.js';
import type { Manifest } from '../../src/manifest/schema.js';
import { generateIdentity, type Identity } from '../../src/manifest/identity.js';
import { ChannelCipher } from '../../src/transport/channel.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { Handshake, type ChannelKeys, type HandshakeStep } from '../../src/transport/handshake.js';
import { ADVERTISER, AUDITOR, PUBLISHER, buildCollaboration, type Collaboration } from '../support/collaboration.js';

/** Through the codec and the schema, as PeerConnection carries handshake messages. */
function wire(msgs: readonly HandshakeMessage[]): HandshakeMessage[] {
  return msgs.map((m) => decodeFrame(encodeFrame(m), HandshakeMessage, 'handshake'));
}

interface Side {
  readonly identity: Identity;
  readonly manifest: Manifest;
  readonly expectedPeer?: string;
}

function side(c: Collaboration, member: string, more: Partial<Side> = {}): Side {
  return { identity: c.identities[member]!, manifest: c.manifest, ...more };
}

function machine(role: 'initiator' | 'responder', s: Side): Handshake {
  return new Handshake({ role, identity: s.identity, manifest: s.manifest, manifestHash: manifestHash(s.manifest), ...(s.expectedPeer === undefined ? {} : { expectedPeer: s.expectedPeer }) });
}

interface Outcome {
  initiator?: ChannelKeys;
  responder?: ChannelKeys;
  /** The error and which machine raised it. */
  error?: { at: 'initiator' | 'responder'; err: unknown };
  /** Every message in the order it crossed: who sent it. */
  transcript: { from: 'initiator' | 'responder'; msg: HandshakeMessage }[];
}

/** Runs a handshake to the end or to the first error; `tamper` may rewrite what crosses. */
function handshake(i: Side, r: Side, tamper?: (from: 'initiator' | 'responder', msg: HandshakeMessage) => HandshakeMessage[]): Outcome {
  const machines = { initiator: machine('initiator', i), responder: machine('responder', r) };
  const out: Outcome = { transcript: [] };
  const queue: { from: 'initiator' | 'responder'; msg: HandshakeMessage }[] = [];
  const push = (from: 'initiator' | 'responder', step: HandshakeStep) => {
    for (const m of wire(step.send)) for (const t of tamper ? tamper(from, m) : [m]) queue.push({ from, msg: t });
    if (step.established) out[from] = step.established;
  };
  push('initiator', machines.initiator.start());
  push('responder', machines.responder.start());
  while (queue.length > 0) {
    const { from, msg } = queue.shift()!;
    out.transcript.push({ from, msg });
    const to = from === 'initiator' ? 'responder' : 'initiator';
    try {
      push(to, machines[to].receive(wire([msg])[0]!));
    } catch (err) {
      out.error = { at: to, err };
      return out;
    }
  }
  return out;
}

function expectAuthFailed(o: Outcome, at: 'initiator' | 'responder', re: RegExp): void {
  expect(o.error?.at).toBe(at);
  const err = o.error!.err;
  expect(err).toBeInstanceOf(CleanroomError);
  expect((err as CleanroomError).code).toBe('AUTH_FAILED');
  expect((err as CleanroomError).peerFault).toBe(true);
  expect((err as Error).message).toMatch(re);
  // Nobody got channel keys out of a failed handshake... at least not the side that refused.
  expect(o[at]).toBeUndefined();
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('handshake', () => {
  const c = buildCollaboration();

  it('completes in both directions with matching keys: sendKey of one is receiveKey of the other', () => {
    const o = handshake(side(c, PUBLISHER, { expectedPeer: ADVERTISER }), side(c, ADVERTISER));
    expect(o.error).toBeUndefined();
    const { initiator, responder } = o;
    expect(initiator?.peer).toBe(ADVERTISER);
    expect(responder?.peer).toBe(PUBLISHER);
    expect(hex(initiator!.sendKey)).toBe(hex(responder!.receiveKey));
    expect(hex(initiator!.receiveKey)).toBe(hex(responder!.sendKey));
    expect(hex(initiator!.sendKey)).not.toBe(hex(initiator!.receiveKey));
    expect(initiator!.sendKey).toHaveLength(32);
    expect(o.transcript.map((t) => `${t.from}:${t.msg.type}`)).toEqual(['initiator:hello', 'responder:hello', 'responder:auth', 'initiator:auth']);
  });

  it('derives fresh keys for every connection', () => {
    const a = handshake(side(c, PUBLISHER), side(c, ADVERTISER));
    const b = handshake(side(c, PUBLISHER), side(c, ADVERTISER));
    expect(hex(a.initiator!.sendKey)).not.toBe(hex(b.initiator!.sendKey));
  });

  it('a peer on another manifest version: the initiator authenticates the responder, then refuses naming both versions', () => {
    const changed: Manifest = { ...c.manifest, version: 2 };
    const o = handshake(side(c, PUBLISHER, { expectedPeer: ADVERTISER }), side(c, ADVERTISER, { manifest: changed }));
    expectAuthFailed(o, 'initiator', /^this node runs manifest v1, the peer advertiser v2: every member must sign and load the same version$/);
    // The initiator keeps its own auth: neither side has a channel.
    expect(o.transcript.map((t) => `${t.from}:${t.msg.type}`)).toEqual(['initiator:hello', 'responder:hello', 'responder:auth']);
    expect(o.responder).toBeUndefined();
    // The responder, hung up on, logs both versions as the initiator's hello claimed them.
    const responder = machine('responder', side(c, ADVERTISER, { manifest: changed }));
    responder.receive(wire(machine('initiator', side(c, PUBLISHER)).start().send)[0]!);
    expect(responder.hungUp().message).toBe('publisher (not yet authenticated) hung up on learning our manifest: this node runs manifest v2, the peer publisher v1: every member must sign and load the same version');
  });

  it('two manifests of the same version number but other contents: both hashes are named', () => {
    const changed: Manifest = { ...c.manifest, name: 'another' };
    const o = handshake(side(c, PUBLISHER, { expectedPeer: ADVERTISER }), side(c, ADVERTISER, { manifest: changed }));
    expectAuthFailed(o, 'initiator', /this node runs manifest v1, the peer advertiser v1 too, but another one \(hash [0-9a-f]{16}, ours [0-9a-f]{16}\)/);
  });

  it('a hello refused for another reason gets no answer at all: the initiator can only say the responder hung up, whose log has the reason', () => {
    const initiator = machine('initiator', side(c, PUBLISHER, { expectedPeer: ADVERTISER }));
    initiator.start();
    expect(initiator.hungUp()).toMatchObject({
      code: 'AUTH_FAILED',
      peerFault: true,
      message: "advertiser closed the connection during the handshake: it refused our hello (another collaboration, manifest version or identity); its operator's log says why",
    });
    const responder = machine('responder', side(c, ADVERTISER));
    expect(responder.hungUp().message).toBe('the peer closed the connection before its hello');
    responder.receive(wire(machine('initiator', side(c, PUBLISHER)).start().send)[0]!);
    expect(responder.hungUp().message).toBe('publisher (not yet authenticated) closed the connection during the handshake');
  });

  it('refuses a peer of another collaboration', () => {
    const o = handshake(side(c, PUBLISHER), side(c, ADVERTISER, { manifest: { ...c.manifest, collaborationId: 'autumn-campaign' } }));
    expectAuthFailed(o, 'responder', /peer belongs to collaboration spring-campaign, not autumn-campaign/);
  });

  it('refuses a peer that is not a member', () => {
    const stranger = generateIdentity('stranger');
    const o = handshake({ identity: stranger, manifest: c.manifest }, side(c, ADVERTISER));
    expectAuthFailed(o, 'responder', /stranger is not a member of the collaboration/);
  });

  it("refuses a peer claiming this node's own id", () => {
    const impostor = { ...generateIdentity(ADVERTISER) };
    const o = handshake({ identity: impostor, manifest: c.manifest }, side(c, ADVERTISER));
    expectAuthFailed(o, 'responder', /peer claims this node's own identity/);
  });

  it('refuses, at the initiator, a member other than the one it dialled', () => {
    const o = handshake(side(c, PUBLISHER, { expectedPeer: ADVERTISER }), side(c, AUDITOR));
    expectAuthFailed(o, 'initiator', /dialled advertiser but auditor answered/);
  });

  it('refuses a signature made with a key that is not the manifest\'s (an impostor initiator)', () => {
    const impostor = generateIdentity(AUDITOR); // claims to be the auditor, holds another key
    const o = handshake({ identity: impostor, manifest: c.manifest }, side(c, ADVERTISER));
    expectAuthFailed(o, 'responder', /auditor did not prove its manifest identity key/);
    expect(o.responder).toBeUndefined();
  });

  it('refuses a signature made with a key that is not the manifest\'s (an impostor responder)', () => {
    const impostor = generateIdentity(ADVERTISER);
    const o = handshake(side(c, PUBLISHER, { expectedPeer: ADVERTISER }), { identity: impostor, manifest: c.manifest });
    expectAuthFailed(o, 'initiator', /advertiser did not prove its manifest identity key/);
  });

  it('refuses a genuine signature over another transcript (a recorded auth replayed into a new connection)', () => {
    const first = handshake(side(c, PUBLISHER), side(c, ADVERTISER));
    const recordedAuth = first.transcript.find((t) => t.from === 'initiator' && t.msg.type === 'auth')!.msg;
    const o = handshake(side(c, PUBLISHER), side(c, ADVERTISER), (from, m) => (from === 'initiator' && m.type === 'auth' ? [recordedAuth] : [m]));
    expectAuthFailed(o, 'responder', /publisher did not prove its manifest identity key/);
  });

  it('refuses a signature made for the other role (the responder\'s auth reflected back to it)', () => {
    let reflected: HandshakeMessage | undefined;
    const o = handshake(side(c, PUBLISHER), side(c, ADVERTISER), (from, m) => {
      if (from === 'responder' && m.type === 'auth') reflected = m;
      if (from === 'initiator' && m.type === 'auth') return [reflected!];
      return [m];
    });
    expectAuthFailed(o, 'responder', /did not prove its manifest identity key/);
  });

  it('refuses auth before hello, at either role', () => {
    const auth: HandshakeMessage = { type: 'auth', signature: new Uint8Array(64) };
    for (const role of ['initiator', 'responder'] as const) {
      const m = machine(role, side(c, PUBLISHER));
      m.start();
      expect(() => m.receive(auth)).toThrow(expect.objectContaining({ code: 'AUTH_FAILED', message: 'auth before hello' }));
    }
  });

  it('refuses a second hello', () => {
    const o = handshake(side(c, PUBLISHER), side(c, ADVERTISER), (from, m) => (from === 'initiator' && m.type === 'hello' ? [m, m] : [m]));
    expectAuthFailed(o, 'responder', /second hello/);
  });

  it('refuses anything after the handshake ended', () => {
    const i = machine('initiator', side(c, PUBLISHER));
    const r = machine('responder', side(c, ADVERTISER));
    const [hello] = wire(i.start().send);
    const [rHello, rAuth] = wire(r.receive(hello!).send);
    const [iAuth] = wire(i.receive(rHello!).send);
    expect(i.receive(rAuth!).established?.peer).toBe(ADVERTISER);
    expect(r.receive(iAuth!).established?.peer).toBe(PUBLISHER);
    expect(() => r.receive(iAuth!)).toThrow(expect.objectContaining({ code: 'AUTH_FAILED', message: 'handshake message after the handshake ended' }));
    expect(() => i.receive(rHello!)).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }));
  });

  it('the schema refuses a malformed hello or auth before the machine sees it', () => {
    const i = machine('initiator', side(c, PUBLISHER));
    const [hello] = i.start().send;
    const bad = [
      { ...hello, manifestHash: new Uint8Array(31) },
      { ...hello, ephemeral: new Uint8Array(33) },
      { ...hello, version: PROTOCOL_VERSION + 1 },
      { ...hello, member: 'Not A Member Id' },
      { type: 'auth', signature: new Uint8Array(63) },
      { type: 'points' },
    ];
    for (const m of bad) expect(() => decodeFrame(encodeFrame(m), HandshakeMessage, 'handshake')).toThrow(expect.objectContaining({ code: 'PROTOCOL_VIOLATION' }));
  });

  // x25519.getSharedSecret throws a plain Error on a small-order point: the handshake must report it as the peer's fault.
  it('refuses a small-order ephemeral key as the peer\'s fault (AUTH_FAILED), not as an internal error', () => {
    for (const u of [new Uint8Array(32), Uint8Array.from([1, ...new Array<number>(31).fill(0)])]) {
      const o = handshake(side(c, PUBLISHER), side(c, ADVERTISER), (from, m) => (from === 'initiator' && m.type === 'hello' ? [{ ...m, ephemeral: u }] : [m]));
      expect(o.responder).toBeUndefined();
      expect(o.error?.at).toBe('responder');
      expect(o.error?.err).toBeInstanceOf(CleanroomError);
      expect(o.error?.err).toMatchObject({ code: 'AUTH_FAILED', peerFault: true });
    }
  });

  it('the responder\'s endpoint hears of a hello only once it passed every check, and a refusal there sends nothing back', () => {
    const heard: string[] = [];
    const refuse = (member: string) => {
      heard.push(member);
      throw new CleanroomError('LIMIT_EXCEEDED', 'full', { peerFault: true });
    };
    const responder = new Handshake({ role: 'responder', identity: c.identities[ADVERTISER]!, manifest: c.manifest, manifestHash: manifestHash(c.manifest), admit: refuse });
    const changed: Manifest = { ...c.manifest, version: 2 };
    const stale = machine('initiator', { identity: c.identities[PUBLISHER]!, manifest: changed });
    // A hello naming another manifest claims no member's place: it is answered (so that both versions can be told) but not admitted.
    expect(responder.receive(wire(stale.start().send)[0]!).send.map((m) => m.type)).toEqual(['hello', 'auth']);
    expect(heard).toEqual([]);
    const fresh = new Handshake({ role: 'responder', identity: c.identities[ADVERTISER]!, manifest: c.manifest, manifestHash: manifestHash(c.manifest), admit: refuse });
    expect(() => fresh.receive(wire(machine('initiator', side(c, PUBLISHER)).start().send)[0]!)).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
    expect(heard).toEqual([PUBLISHER]);
  });
});

describe('ChannelCipher', () => {
  const c = buildCollaboration();
  const keys = () => {
    const o = handshake(side(c, PUBLISHER), side(c, ADVERTISER));
    return { i: o.initiator!, r: o.responder! };
  };
  const text = (s: string) => new TextEncoder().encode(s);

  it('seals and opens frames in both directions, in order', () => {
    const { i, r } = keys();
    const iSend = new ChannelCipher(i.sendKey);
    const rRecv = new ChannelCipher(r.receiveKey);
    const rSend = new ChannelCipher(r.sendKey);
    const iRecv = new ChannelCipher(i.receiveKey);
    for (let n = 0; n < 5; n++) {
      const f = iSend.seal(text(`frame ${n}`));
      expect(Buffer.from(f).toString()).not.toContain(`frame ${n}`);
      expect(f).toHaveLength(`frame ${n}`.length + 16);
      expect(Buffer.from(rRecv.open(f)).toString()).toBe(`frame ${n}`);
      expect(Buffer.from(iRecv.open(rSend.seal(text(`reply ${n}`)))).toString()).toBe(`reply ${n}`);
    }
    const empty = iSend.seal(new Uint8Array(0));
    expect(rRecv.open(empty)).toHaveLength(0);
  });

  it('the same plaintext seals differently each time (counter nonce)', () => {
    const { i } = keys();
    const s = new ChannelCipher(i.sendKey);
    expect(hex(s.seal(text('same')))).not.toBe(hex(s.seal(text('same'))));
  });

  const auth = expect.objectContaining({ code: 'AUTH_FAILED', peerFault: true });

  it('refuses a replayed frame', () => {
    const { i, r } = keys();
    const send = new ChannelCipher(i.sendKey);
    const recv = new ChannelCipher(r.receiveKey);
    const f = send.seal(text('pay 10'));
    recv.open(f);
    expect(() => recv.open(f)).toThrow(auth);
  });

  it('refuses reordered frames (and a dropped one)', () => {
    const { i, r } = keys();
    const send = new ChannelCipher(i.sendKey);
    const f1 = send.seal(text('one'));
    const f2 = send.seal(text('two'));
    expect(() => new ChannelCipher(r.receiveKey).open(f2)).toThrow(auth);
    const recv = new ChannelCipher(r.receiveKey);
    recv.open(f1);
    expect(Buffer.from(recv.open(f2)).toString()).toBe('two');
  });

  it('refuses a tampered frame: a flipped bit in the ciphertext or the tag, a truncated frame', () => {
    const { i, r } = keys();
    for (const at of [0, 5, -1]) {
      const f = Uint8Array.from(new ChannelCipher(i.sendKey).seal(text('hello there')));
      f[at < 0 ? f.length + at : at]! ^= 0x01;
      expect(() => new ChannelCipher(r.receiveKey).open(f)).toThrow(auth);
    }
    const f = new ChannelCipher(i.sendKey).seal(text('hello there'));
    expect(() => new ChannelCipher(r.receiveKey).open(f.subarray(0, f.length - 1))).toThrow(auth);
    expect(() => new ChannelCipher(r.receiveKey).open(f.subarray(0, 15))).toThrow(expect.objectContaining({ code: 'AUTH_FAILED', message: 'frame shorter than its tag' }));
  });

  it('refuses a frame reflected back to its sender (the two directions have different keys)', () => {
    const { i } = keys();
    const f = new ChannelCipher(i.sendKey).seal(text('mine'));
    expect(() => new ChannelCipher(i.receiveKey).open(f)).toThrow(auth);
  });

  it('refuses a frame sealed under another connection\'s keys', () => {
    const a = keys();
    const b = keys();
    const f = new ChannelCipher(a.i.sendKey).seal(text('x'));
    expect(() => new ChannelCipher(b.r.receiveKey).open(f)).toThrow(auth);
  });
});
