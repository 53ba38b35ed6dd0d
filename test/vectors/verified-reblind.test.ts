import { readFileSync } from 'node:fs';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { groupBackends } from '../../src/crypto/backend.js';
import { computeComposites, verifyProof } from '../../src/crypto/dleq.js';
import { bytesScalar, edwardsFor } from '../../src/crypto/edwards.js';
import { edwardsToU, liftToEdwards } from '../../src/crypto/edwards-lift.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { checkReblind, proveReblind, reblindContext, reblindKey } from '../../src/crypto/verified-reblind.js';

/**
 * protocol/vectors/verified-reblind.json (SPEC §4.2.1): a fixed secret, batch and proof nonce give fixed bytes on
 * every backend. The lift, the key and the returned points are also checked against @noble/curves' own arithmetic and
 * its X25519, independently of src/crypto.
 */

interface Vectors {
  collaborationId: string;
  queryId: string;
  part: number;
  batch: number;
  contextString: string;
  secret: string;
  key: string;
  nonce: string;
  vectors: { multiple: number; point: string; lifted: string; returned: string }[];
  compositeM: string;
  compositeZ: string;
  proof: string;
}

const file = JSON.parse(readFileSync(new URL('../../protocol/vectors/verified-reblind.json', import.meta.url), 'utf8')) as Vectors;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const all = (field: 'point' | 'lifted' | 'returned') => bytes(file.vectors.map((v) => v[field]).join(''));
const secretBytes = bytes(file.secret);
const context = reblindContext(file.collaborationId, file.queryId, file.part, file.batch);

describe('the vectors against @noble/curves directly', () => {
  const clamped = Uint8Array.from(secretBytes);
  clamped[0]! &= 248;
  clamped[31]! &= 127;
  clamped[31]! |= 64;
  const k = bytesScalar(clamped) % ed25519.Point.Fn.ORDER;

  it('the context string, the key B = k·G', () => {
    expect(hex(context)).toBe(file.contextString);
    expect(hex(ed25519.Point.BASE.multiply(k).toBytes())).toBe(file.key);
  });

  it.each(file.vectors)('multiple $multiple: the point, its lift (x even), k times it, and X25519 of the secret', (v) => {
    const m = ed25519.Point.BASE.multiply(BigInt(v.multiple));
    expect(hex(ed25519.utils.toMontgomery(m.toBytes()))).toBe(v.point);
    const lifted = ed25519.Point.fromBytes(bytes(v.lifted));
    expect(lifted.equals(m) || lifted.equals(m.negate())).toBe(true);
    expect(lifted.toAffine().x & 1n).toBe(0n);
    expect(hex(lifted.multiply(k).toBytes())).toBe(v.returned);
    expect(hex(ed25519.utils.toMontgomery(bytes(v.returned)))).toBe(hex(x25519.scalarMult(secretBytes, bytes(v.point))));
  });
});

describe.each(groupBackends().map((g) => [g.name, edwardsFor(g.name)] as const))('the vectors on %s', (_n, g) => {
  const secret = QuerySecret.fromBytes(secretBytes);

  it('lift, key, returned points and proof', () => {
    expect(hex(liftToEdwards(all('point')))).toBe(hex(all('lifted')));
    expect(hex(reblindKey(g, secret))).toBe(file.key);
    const proved = proveReblind(g, secret, all('point'), context, BigInt(`0x${file.nonce}`));
    expect(hex(proved)).toBe(hex(all('returned')) + file.proof);
  });

  it('composites, the proof verifies, the check gives the returned u-coordinates', () => {
    const lifted = file.vectors.map((v) => bytes(v.lifted));
    const returned = file.vectors.map((v) => bytes(v.returned));
    const { M, Z } = computeComposites(g, bytes(file.key), lifted, returned, context);
    expect([hex(M), hex(Z)]).toEqual([file.compositeM, file.compositeZ]);
    expect(verifyProof(g, bytes(file.key), lifted, returned, bytes(file.proof), context)).toBe(true);
    const us = checkReblind(g, { sent: all('point'), returned: all('returned'), proof: bytes(file.proof), key: bytes(file.key), context });
    expect(hex(us)).toBe(hex(edwardsToU(all('returned'))));
  });
});
