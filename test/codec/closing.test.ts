/**
 * The frames that end things: `bye` closes a connection on purpose, `abort` ends a query on failure. A valid one
 * round-trips and each field out of its bounds is refused; the reasons an abort carries are in abort.test.ts.
 */
import { describe, it } from 'vitest';
import { HandshakeMessage, NO_QUERY_ID, WireMessage } from '../../src/wire/messages.js';
import { expectFieldRefused, expectRoundTrip, expectStrictFrame } from './frame-checks.js';
import { HANDSHAKE, SESSION } from './valid-messages.js';

const { bye, abort } = SESSION;

describe('bye', () => {
  it('round-trips', () => expectRoundTrip(WireMessage, bye));

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, bye, 'hello'));

  it('is no handshake message: a peer cannot leave before it has authenticated', () => expectFieldRefused(HandshakeMessage, HANDSHAKE.auth, 'type', 'bye'));
});

describe('abort', () => {
  it('round-trips, before any query was named, and with code and message at their longest', () => {
    expectRoundTrip(WireMessage, abort);
    expectRoundTrip(WireMessage, { ...abort, queryId: NO_QUERY_ID });
    expectRoundTrip(WireMessage, { ...abort, code: 'C'.repeat(64), message: 'm'.repeat(2000) });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, abort, 'auth'));

  it('refuses a code or message too long, or not text', () => {
    for (const code of ['C'.repeat(65), 7, null]) expectFieldRefused(WireMessage, abort, 'code', code);
    for (const message of ['m'.repeat(2001), new Uint8Array(3), null]) expectFieldRefused(WireMessage, abort, 'message', message);
  });

  it('refuses a query id that is not 32 lowercase hex digits', () => {
    for (const queryId of ['0'.repeat(31), 'AB'.repeat(16), null]) expectFieldRefused(WireMessage, abort, 'queryId', queryId);
  });
});
