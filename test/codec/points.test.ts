/**
 * The point streams of two-party PSI, `points` and `points-end`: any valid batch round-trips, and each field out of
 * its bounds (stage, batch numbers and counts, the length of the points) is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POINT_BYTES } from '../../src/crypto/group.js';
import { PSI_BATCH_KEYS } from '../../src/limits.js';
import { PointStage, WIRE_POINT_BYTES, WireMessage } from '../../src/wire/messages.js';
import { expectFieldRefused, expectRoundTrip, expectStrictFrame } from './frame-checks.js';
import { bytes, SESSION } from './valid-messages.js';

const MAX_COUNT = 2 ** 32 - 1;
const BAD_COUNTS = [-1, MAX_COUNT + 1, 1.5, Number.NaN, '1', null];
const { points, 'points-end': pointsEnd } = SESSION;

describe('points', () => {
  it("take the group's point size (the wire may not import the group)", () => {
    expect(WIRE_POINT_BYTES).toBe(POINT_BYTES);
  });

  it('round-trips at its bounds: one point, a full batch, the last batch number', () => {
    expectRoundTrip(WireMessage, points);
    expectRoundTrip(WireMessage, { ...points, seq: MAX_COUNT, points: bytes(PSI_BATCH_KEYS * 32) });
  });

  it('round-trips any valid batch', () => {
    const batch = fc.record({
      type: fc.constant('points'),
      queryId: fc.stringMatching(/^[0-9a-f]{32}$/),
      stage: fc.constantFrom(...PointStage.options),
      seq: fc.integer({ min: 0, max: MAX_COUNT }),
      points: fc.integer({ min: 1, max: PSI_BATCH_KEYS }).chain((n) => fc.uint8Array({ minLength: n * 32, maxLength: n * 32 })),
    });
    fc.assert(fc.property(batch, (msg) => expectRoundTrip(WireMessage, msg)), { numRuns: 100 });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, points, 'hello'));

  it('refuses points that are not a whole number of points, none, or more than a batch', () => {
    for (const value of [bytes(0), bytes(31), bytes(33), bytes(32 * 3 + 1), bytes((PSI_BATCH_KEYS + 1) * 32), 'x'.repeat(32), [1, 2]]) {
      expectFieldRefused(WireMessage, points, 'points', value);
    }
  });

  it('refuses a batch number out of range and a stage the protocol does not have', () => {
    for (const seq of BAD_COUNTS) expectFieldRefused(WireMessage, points, 'seq', seq);
    for (const stage of ['P', 'pp', '', 0]) expectFieldRefused(WireMessage, points, 'stage', stage);
  });
});

describe('points-end', () => {
  it('round-trips, with counts at their bounds', () => {
    expectRoundTrip(WireMessage, pointsEnd);
    expectRoundTrip(WireMessage, { ...pointsEnd, stage: 'q', batches: 0, count: 0 });
    expectRoundTrip(WireMessage, { ...pointsEnd, batches: MAX_COUNT, count: MAX_COUNT });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, pointsEnd, 'auth'));

  it('refuses counts out of range and a stage the protocol does not have', () => {
    for (const value of BAD_COUNTS) {
      expectFieldRefused(WireMessage, pointsEnd, 'batches', value);
      expectFieldRefused(WireMessage, pointsEnd, 'count', value);
    }
    expectFieldRefused(WireMessage, pointsEnd, 'stage', 'qp');
  });
});
