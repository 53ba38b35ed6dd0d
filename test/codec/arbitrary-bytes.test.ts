/**
 * Whatever bytes a peer sends, decoding either returns a message its union accepts or refuses the frame as
 * malformed: never another error, never a crash. Random bytes mostly fail at the first byte, so frames that start
 * as a map and valid frames of every type with a byte changed, added or cut reach the checks further in.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { HandshakeMessage, WireMessage } from '../../src/wire/messages.js';
import { expectMalformed, type Union } from './frame-checks.js';
import { HANDSHAKE, SESSION } from './valid-messages.js';

const RUNS = 500;
const UNIONS: [string, Union, Uint8Array[]][] = [
  ['handshake', HandshakeMessage, Object.values(HANDSHAKE).map(encodeFrame)],
  ['session', WireMessage, Object.values(SESSION).map(encodeFrame)],
];

function decodesOrIsMalformed(union: Union, frame: Uint8Array): void {
  let decoded: unknown;
  try {
    decoded = decodeFrame(frame, union, 'test');
  } catch {
    return expectMalformed(union, frame);
  }
  // A changed frame may still be a valid message: then it is one, and it crosses the codec again unchanged.
  union.parse(decoded);
  decodeFrame(encodeFrame(decoded), union, 'test');
}

describe.each(UNIONS)('decoding %s frames', (_name, union, valid) => {
  it('refuses random bytes as malformed', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (frame) => decodesOrIsMalformed(union, frame)), { numRuns: RUNS });
  });

  it('refuses random bytes after a map header as malformed, or decodes them', () => {
    const header = fc.constantFrom(Uint8Array.of(0x81), Uint8Array.of(0x85), Uint8Array.of(0xde, 0, 3), Uint8Array.of(0xdf, 0, 0, 0, 2));
    const frame = fc.tuple(header, fc.uint8Array({ maxLength: 300 })).map(([h, rest]) => Uint8Array.from([...h, ...rest]));
    fc.assert(fc.property(frame, (f) => decodesOrIsMalformed(union, f)), { numRuns: RUNS });
  });

  it('refuses valid frames with a byte changed, added or cut as malformed, or decodes them', () => {
    const changed = fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut')).map(([frame, at, byte, edit]) => {
      const i = at % frame.length;
      if (edit === 'set') return Uint8Array.from(frame, (b, j) => (j === i ? byte : b));
      if (edit === 'insert') return Uint8Array.from([...frame.subarray(0, i), byte, ...frame.subarray(i)]);
      return frame.subarray(0, i);
    });
    fc.assert(fc.property(changed, (f) => decodesOrIsMalformed(union, f)), { numRuns: RUNS });
  });
});
