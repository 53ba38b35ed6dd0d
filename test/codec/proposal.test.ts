/**
 * The proposal frames (`propose`, `accept`, `join`, `reject`), decoded with the union of an authenticated
 * connection: a valid one round-trips, each field out of its bounds is refused, and so is a handshake message.
 */
import { describe, it } from 'vitest';
import { MAX_SQL_LENGTH } from '../../src/limits.js';
import { WireMessage } from '../../src/wire/messages.js';
import { expectFieldRefused, expectRoundTrip, expectStrictFrame } from './frame-checks.js';
import { SESSION } from './valid-messages.js';

const { propose, accept, join, reject } = SESSION;
const BAD_QUERY_IDS = ['', 'ab'.repeat(15), 'ab'.repeat(17), 'AB'.repeat(16), 'zz'.repeat(16), 42];

describe('propose', () => {
  it('round-trips, with SQL at its longest', () => {
    expectRoundTrip(WireMessage, propose);
    expectRoundTrip(WireMessage, { ...propose, sql: 'x'.repeat(MAX_SQL_LENGTH) });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, propose, 'hello'));

  it('refuses empty SQL, SQL over the limit, and SQL that is not text', () => {
    for (const sql of ['', 'x'.repeat(MAX_SQL_LENGTH + 1), 7, null]) expectFieldRefused(WireMessage, propose, 'sql', sql);
  });

  it('refuses a querier outside the member id pattern', () => {
    for (const querier of ['', 'Alpha', '-a', `a${'b'.repeat(63)}`, '*']) expectFieldRefused(WireMessage, propose, 'querier', querier);
  });

  it('refuses a query id that is not 32 lowercase hex digits', () => {
    for (const queryId of BAD_QUERY_IDS) expectFieldRefused(WireMessage, propose, 'queryId', queryId);
  });
});

describe.each([
  ['accept', accept],
  ['join', join],
])('%s', (type, msg) => {
  it('round-trips', () => expectRoundTrip(WireMessage, msg));

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, msg, 'auth'));

  it(`refuses a ${type} whose query id is not 32 lowercase hex digits`, () => {
    for (const queryId of BAD_QUERY_IDS) expectFieldRefused(WireMessage, msg, 'queryId', queryId);
  });
});

describe('reject', () => {
  it('round-trips, with code and message at their longest', () => {
    expectRoundTrip(WireMessage, reject);
    expectRoundTrip(WireMessage, { ...reject, code: 'C'.repeat(64), message: 'm'.repeat(2000) });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, reject, 'hello'));

  it('refuses a code or message too long, or not text', () => {
    for (const code of ['C'.repeat(65), 7, null]) expectFieldRefused(WireMessage, reject, 'code', code);
    for (const message of ['m'.repeat(2001), ['no'], null]) expectFieldRefused(WireMessage, reject, 'message', message);
  });
});
