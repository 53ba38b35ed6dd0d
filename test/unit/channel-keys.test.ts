import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChannelCipher } from '../../src/transport/channel.js';

/** Issue 10, secret copies: the channel's keys do not outlive the connection. */
describe('ChannelCipher keys', () => {
  it('seal and open agree while the connection lives; wipe zeroes the key and refuses any later use', () => {
    const key = Uint8Array.from(randomBytes(32));
    const [sealer, opener] = [new ChannelCipher(key), new ChannelCipher(Uint8Array.from(key))];
    const frame = sealer.seal(new TextEncoder().encode('shares'));
    expect(new TextDecoder().decode(opener.open(frame))).toBe('shares');
    sealer.wipe();
    opener.wipe();
    // The cipher holds the very buffer it was given: wiping it leaves no copy of the key in that buffer.
    expect(key.every((b) => b === 0)).toBe(true);
    expect(() => sealer.seal(new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => opener.open(frame)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});
