import { describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES, PSI_BATCH_KEYS } from '../../src/limits.js';
import { MAX_PADDED_BYTES, MIN_PADDED_BYTES, POINT_FRAME_BYTES, pad, paddedSize, unpad } from '../../src/transport/frame-padding.js';
import { encodeFrame } from '../../src/wire/codec.js';

/** Issue 10, network observers: a sealed frame's length depends on the message's kind, not on the data in it. */
describe('frame padding (SPEC §2)', () => {
  const points = (n: number) => encodeFrame({ type: 'points', queryId: 'ab'.repeat(16), stage: 'q', seq: 7, points: new Uint8Array(32 * n) });
  const shares = (groups: number) => encodeFrame({ type: 'shares', queryId: 'ab'.repeat(16), groups, width: 4, values: new Uint8Array(groups * 4 * 16) });

  it('a last point batch of one key and a full batch of 4096 are the same size on the wire', () => {
    expect(pad('points', points(1)).length).toBe(POINT_FRAME_BYTES);
    expect(pad('points', points(PSI_BATCH_KEYS)).length).toBe(POINT_FRAME_BYTES);
    expect(pad('ring', points(17)).length).toBe(POINT_FRAME_BYTES);
  });

  it('share matrices and labels to the next power of two: 10 groups and 12 look alike; control messages all alike', () => {
    expect(pad('shares', shares(10)).length).toBe(pad('shares', shares(12)).length);
    expect(pad('accept', encodeFrame({ type: 'accept', queryId: 'ab'.repeat(16) })).length).toBe(MIN_PADDED_BYTES);
    expect(pad('abort', encodeFrame({ type: 'abort', queryId: 'ab'.repeat(16), code: 'TIMEOUT', message: 'x'.repeat(200) })).length).toBe(MIN_PADDED_BYTES);
    expect(paddedSize('shares', MAX_FRAME_BYTES)).toBe(MAX_PADDED_BYTES);
  });

  it('unpad returns the message exactly; a length the frame cannot hold is a malformed frame', () => {
    const m = shares(3);
    expect(Buffer.from(unpad(pad('shares', m)))).toEqual(Buffer.from(m));
    const lying = pad('shares', m);
    new DataView(lying.buffer).setUint32(0, lying.length, true);
    expect(() => unpad(lying)).toThrow(expect.objectContaining({ reason: 'malformed-frame' }));
    expect(() => unpad(new Uint8Array(3))).toThrow(expect.objectContaining({ reason: 'malformed-frame' }));
  });
});
