/**
 * The sets travelling the ring of a join of three or more, `ring` and `ring-end`: a valid frame round-trips, for a
 * member's set and for the intersection (`*`), and each field out of its bounds is refused.
 */
import { describe, it } from 'vitest';
import { PSI_BATCH_KEYS } from '../../src/limits.js';
import { WireMessage } from '../../src/wire/messages.js';
import { expectFieldRefused, expectRoundTrip, expectStrictFrame } from './frame-checks.js';
import { bytes, SESSION } from './valid-messages.js';

const MAX_COUNT = 2 ** 32 - 1;
const BAD_COUNTS = [-1, MAX_COUNT + 1, 0.5, '0', null];
const BAD_SETS = ['', '**', 'Beta', '-beta', `b${'c'.repeat(63)}`, 3, null];
const { ring, 'ring-end': ringEnd } = SESSION;

describe('ring', () => {
  it('round-trips for a member set and the intersection, up to a full batch', () => {
    expectRoundTrip(WireMessage, ring);
    expectRoundTrip(WireMessage, { ...ring, set: '*', stage: 'final', seq: MAX_COUNT, points: bytes(PSI_BATCH_KEYS * 32) });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, ring, 'hello'));

  it('refuses points that are not a whole number of points, none, or more than a batch', () => {
    for (const value of [bytes(0), bytes(31), bytes(65), bytes((PSI_BATCH_KEYS + 1) * 32), 'x'.repeat(32)]) expectFieldRefused(WireMessage, ring, 'points', value);
  });

  it('refuses a set that is neither a member id nor *, a stage it does not have, a batch number out of range', () => {
    for (const set of BAD_SETS) expectFieldRefused(WireMessage, ring, 'set', set);
    for (const stage of ['hops', 'p', '']) expectFieldRefused(WireMessage, ring, 'stage', stage);
    for (const seq of BAD_COUNTS) expectFieldRefused(WireMessage, ring, 'seq', seq);
  });
});

describe('ring-end', () => {
  it('round-trips, with counts at their bounds', () => {
    expectRoundTrip(WireMessage, ringEnd);
    expectRoundTrip(WireMessage, { ...ringEnd, set: 'a', stage: 'hop', batches: 0, count: 0 });
    expectRoundTrip(WireMessage, { ...ringEnd, batches: MAX_COUNT, count: MAX_COUNT });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, ringEnd, 'auth'));

  it('refuses a set that is neither a member id nor *, a stage it does not have, counts out of range', () => {
    for (const set of BAD_SETS) expectFieldRefused(WireMessage, ringEnd, 'set', set);
    expectFieldRefused(WireMessage, ringEnd, 'stage', 'finals');
    for (const value of BAD_COUNTS) {
      expectFieldRefused(WireMessage, ringEnd, 'batches', value);
      expectFieldRefused(WireMessage, ringEnd, 'count', value);
    }
  });
});
