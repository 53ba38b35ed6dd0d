import { readFileSync } from 'node:fs';
import { ed25519, ed25519_hasher } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { groupBackends } from '../../src/crypto/backend.js';
import { hashToField } from '../../src/crypto/hash-to-field.js';

interface Rfc9380Vector {
  msg: string;
  P: { x: string; y: string };
  u0: string;
  u1: string;
  Q0: { x: string; y: string };
  Q1: { x: string; y: string };
  hashToFieldLE: string;
  montgomeryU: string;
}
interface Rfc9380Vectors {
  suite: string;
  dst: string;
  p: string;
  vectors: Rfc9380Vector[];
}

const file = JSON.parse(
  readFileSync(new URL('../../protocol/vectors/rfc9380-edwards25519-ro.json', import.meta.url), 'utf8'),
) as Rfc9380Vectors;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const leHex = (n: bigint): string => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse().toString('hex');
const dst = utf8(file.dst);
const p = BigInt(file.p);
const byLength = file.vectors.map((v) => [v.msg.length, v] as const);

describe('RFC 9380 J.5.1 vectors themselves', () => {
  it('are the RO suite with five messages', () => {
    expect(file.suite).toBe('edwards25519_XMD:SHA-512_ELL2_RO_');
    expect(file.dst).toBe('QUUX-V01-CS02-with-edwards25519_XMD:SHA-512_ELL2_RO_');
    expect(file.vectors.map((v) => v.msg.length)).toEqual([0, 3, 16, 133, 517]);
  });

  it.each(byLength)('montgomeryU = (1 + y) / (1 - y) for the %i-byte msg', (_length, v) => {
    const y = BigInt(v.P.y);
    const mod = (a: bigint) => ((a % p) + p) % p;
    // u * (1 - y) = 1 + y, checked without trusting any inversion code.
    const u = BigInt('0x' + Buffer.from(v.montgomeryU, 'hex').reverse().toString('hex'));
    expect(mod(u * (1n - y))).toBe(mod(1n + y));
    expect(leHex(BigInt(v.u0)) + leHex(BigInt(v.u1))).toBe(v.hashToFieldLE);
  });

  it.each(byLength)('P = clear_cofactor(Q0 + Q1) for the %i-byte msg', (_length, v) => {
    const point = (q: { x: string; y: string }) => ed25519.Point.fromAffine({ x: BigInt(q.x), y: BigInt(q.y) });
    const sum = point(v.Q0).add(point(v.Q1)).clearCofactor().toAffine();
    expect(sum.x).toBe(BigInt(v.P.x));
    expect(sum.y).toBe(BigInt(v.P.y));
  });

  it.each(byLength)('@noble/curves reproduces P and its u for the %i-byte msg', (_length, v) => {
    const point = ed25519_hasher.hashToCurve(utf8(v.msg), { DST: dst });
    expect(point.toAffine().x).toBe(BigInt(v.P.x));
    expect(point.toAffine().y).toBe(BigInt(v.P.y));
    expect(hex(ed25519.utils.toMontgomery(point.toBytes()))).toBe(v.montgomeryU);
  });
});

describe('hash_to_field (src/crypto/hash-to-field.ts)', () => {
  it.each(byLength)('gives u0 and u1 for the %i-byte msg', (_length, v) => {
    expect(hex(hashToField(utf8(v.msg), dst))).toBe(v.hashToFieldLE);
  });
});

describe.each(groupBackends().map((b) => [b.name, b] as const))('hashToGroup on %s', (_name, group) => {
  it.each(byLength)('gives montgomeryU for the %i-byte msg', (_length, v) => {
    expect(hex(group.hashToGroup([utf8(v.msg)], dst))).toBe(v.montgomeryU);
  });

  it('hashes a batch in order', () => {
    const out = group.hashToGroup(file.vectors.map((v) => utf8(v.msg)), dst);
    expect(hex(out)).toBe(file.vectors.map((v) => v.montgomeryU).join(''));
  });

  it('returns no bytes for no keys', () => {
    expect(group.hashToGroup([], dst).length).toBe(0);
  });
});
