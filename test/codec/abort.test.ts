/**
 * The abort (and reject) frame through the wire codec: with each violation reason, and without one, it decodes to
 * what was sent and re-encodes to the same bytes; a reason the protocol does not define makes the frame invalid.
 */
import { describe, expect, it } from 'vitest';
import { VIOLATION_REASONS } from '../../src/errors.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { SessionMessage, WireMessage } from '../../src/wire/messages.js';

const QUERY = 'ab'.repeat(16);
const abort = { type: 'abort', queryId: QUERY, code: 'PROTOCOL_VIOLATION', message: 'stage p: batch 0 where 3 was due' } as const;

function roundTrip(msg: Record<string, unknown>): void {
  const frame = encodeFrame(msg);
  for (const schema of [SessionMessage, WireMessage]) {
    const decoded = decodeFrame(frame, schema, 'session');
    expect(decoded).toEqual(msg);
    expect(Buffer.compare(encodeFrame(decoded), frame)).toBe(0);
  }
}

describe('abort frames', () => {
  it.each(VIOLATION_REASONS)('carry the reason %s unchanged, in an abort and in a reject', (reason) => {
    roundTrip({ ...abort, reason });
    roundTrip({ ...abort, type: 'reject', reason });
  });

  it('need no reason: an abort for any other failure has none', () => {
    roundTrip({ type: 'abort', queryId: QUERY, code: 'TIMEOUT', message: 'no message for 120000 ms' });
  });

  it.each([['an unknown reason', 'lied-about-it'], ['a code as the reason', 'PROTOCOL_VIOLATION'], ['a number', 7], ['nil', null], ['bytes', new Uint8Array(4)]])(
    'are refused with %s',
    (_what, reason) => {
      for (const type of ['abort', 'reject']) {
        expect(() => decodeFrame(encodeFrame({ ...abort, type, reason }), WireMessage, 'session')).toThrow(
          expect.objectContaining({ code: 'PROTOCOL_VIOLATION', reason: 'malformed-frame', message: expect.stringContaining('reason') }),
        );
      }
    },
  );
});
