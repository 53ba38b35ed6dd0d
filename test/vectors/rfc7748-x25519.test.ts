import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { groupBackends } from '../../src/crypto/backend.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { CleanroomError } from '../../src/errors.js';

interface Rfc7748Vectors {
  scalarMult: { scalar: string; u: string; output: string }[];
  iterated: { iterations: number; k: string }[];
  diffieHellman: Record<'alicePrivate' | 'alicePublic' | 'bobPrivate' | 'bobPublic' | 'sharedSecret', string>;
}

const vectors = JSON.parse(
  readFileSync(new URL('../../protocol/vectors/rfc7748-x25519.json', import.meta.url), 'utf8'),
) as Rfc7748Vectors;
const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const BASE_POINT = bytes('09'.padEnd(64, '0'));
// A million X25519 calls take about 35 s on libsodium and a quarter of an hour on noble: the
// million-iteration vector runs only on sodium and only with CLEANROOM_SLOW_VECTORS=1.
const slow = process.env['CLEANROOM_SLOW_VECTORS'] === '1';

describe.each(groupBackends().map((b) => [b.name, b] as const))('RFC 7748 X25519 on %s', (_name, group) => {
  const x25519 = (scalar: Uint8Array, u: Uint8Array) => group.blind(QuerySecret.fromBytes(scalar), u);

  it.each(vectors.scalarMult)('§5.2 scalar $scalar', ({ scalar, u, output }) => {
    const point = bytes(u);
    if (point[31]! & 0x80) {
      let thrown: unknown;
      try {
        x25519(bytes(scalar), point);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(CleanroomError);
      expect((thrown as CleanroomError).code).toBe('PROTOCOL_VIOLATION');
      point[31]! &= 0x7f;
    }
    expect(hex(x25519(bytes(scalar), point))).toBe(output);
  });

  const iterated = vectors.iterated.filter((v) => v.iterations <= 1000 || (slow && group.name === 'sodium'));
  it(`§5.2 iterated (${iterated.map((v) => v.iterations).join(', ')})`, () => {
    let k = BASE_POINT;
    let u = BASE_POINT;
    let done = 0;
    for (const { iterations, k: expected } of iterated) {
      for (; done < iterations; done++) [k, u] = [x25519(k, u), k];
      expect(hex(k), `after ${iterations} iterations`).toBe(expected);
    }
  });

  it('§6.1 Diffie-Hellman', () => {
    const dh = vectors.diffieHellman;
    expect(hex(x25519(bytes(dh.alicePrivate), BASE_POINT))).toBe(dh.alicePublic);
    expect(hex(x25519(bytes(dh.bobPrivate), BASE_POINT))).toBe(dh.bobPublic);
    expect(hex(x25519(bytes(dh.alicePrivate), bytes(dh.bobPublic)))).toBe(dh.sharedSecret);
    expect(hex(x25519(bytes(dh.bobPrivate), bytes(dh.alicePublic)))).toBe(dh.sharedSecret);
  });
});
