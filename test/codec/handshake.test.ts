/**
 * The handshake frames, `hello` and `auth`, decoded with the union a connection uses before authentication: a valid
 * one round-trips, each field out of its bounds is refused, and so is any session message.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { HandshakeMessage, PROTOCOL_VERSION } from '../../src/wire/messages.js';
import { expectFieldRefused, expectRoundTrip, expectStrictFrame } from './frame-checks.js';
import { bytes, HANDSHAKE } from './valid-messages.js';

const MEMBER_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const { hello, auth } = HANDSHAKE;

describe('hello', () => {
  it('round-trips, with ids at the bounds of their pattern', () => {
    expectRoundTrip(HandshakeMessage, hello);
    expectRoundTrip(HandshakeMessage, { ...hello, collaborationId: '0', member: `a${'-'.repeat(62)}` });
  });

  it('is strict, and a session message is no handshake', () => expectStrictFrame(HandshakeMessage, hello, 'accept'));

  it.each([0, PROTOCOL_VERSION + 1, String(PROTOCOL_VERSION)])('refuses version %j', (version) => expectFieldRefused(HandshakeMessage, hello, 'version', version));

  it('round-trips a manifest version at its bounds, and refuses one outside them', () => {
    for (const manifestVersion of [1, 2 ** 32 - 1]) expectRoundTrip(HandshakeMessage, { ...hello, manifestVersion });
    for (const value of [0, -1, 1.5, 2 ** 32, '3', null]) expectFieldRefused(HandshakeMessage, hello, 'manifestVersion', value);
  });

  it.each(['manifestHash', 'ephemeral'])('refuses a %s that is not 32 bytes', (field) => {
    for (const value of [bytes(31), bytes(33), bytes(0), 'x'.repeat(32), Array.from(bytes(32))]) expectFieldRefused(HandshakeMessage, hello, field, value);
  });

  it.each(['collaborationId', 'member'])('refuses a %s outside the member id pattern', (field) => {
    for (const value of ['', 'Alpha', '-alpha', 'al_pha', 'al pha', `a${'b'.repeat(63)}`, 7]) expectFieldRefused(HandshakeMessage, hello, field, value);
  });

  it('takes any member id of the pattern and refuses any other string', () => {
    fc.assert(fc.property(fc.stringMatching(MEMBER_ID), (member) => expectRoundTrip(HandshakeMessage, { ...hello, member })), { numRuns: 200 });
    const notId = fc.string({ maxLength: 70 }).filter((s) => !MEMBER_ID.test(s));
    fc.assert(fc.property(notId, (member) => expectFieldRefused(HandshakeMessage, hello, 'member', member)), { numRuns: 200 });
  });
});

describe('auth', () => {
  it('round-trips', () => expectRoundTrip(HandshakeMessage, auth));

  it('is strict, and a session message is no handshake', () => expectStrictFrame(HandshakeMessage, auth, 'bye'));

  it('refuses a signature that is not 64 bytes', () => {
    for (const value of [bytes(63), bytes(65), bytes(0), 'x'.repeat(64)]) expectFieldRefused(HandshakeMessage, auth, 'signature', value);
  });
});
