import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupBackends } from '../../src/crypto/backend.js';
import { generateProof, verifyProof } from '../../src/crypto/dleq.js';
import { edwardsFor, nobleEdwards, scalarBytes } from '../../src/crypto/edwards.js';
import { edwardsToU, liftToEdwards } from '../../src/crypto/edwards-lift.js';
import { POINT_BYTES } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { checkReblind, proveReblind, reblindContext, reblindKey } from '../../src/crypto/verified-reblind.js';
import { ProtocolViolation } from '../../src/errors.js';

/**
 * SPEC §4.2.1: the edwards25519 lift, the RFC 9497 proof over it, and the batch check the aggregator runs, on both
 * backends, which must agree byte for byte.
 */

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const backends = groupBackends().map((g) => edwardsFor(g.name));
const bothBackends = backends.length === 2;
const Point = ed25519.Point;
/** The point of order 2, (0, −1): CVE-2025-69277's P + T2 passed libsodium's subgroup check before ad3004e. */
const T2 = Point.fromAffine({ x: 0n, y: Point.Fp.neg(1n) });
const context = reblindContext('unit-test', 'ab'.repeat(16), 0, 0);

/** n points of the subgroup as X25519 u-coordinates, as H(p)^a would be. */
function subgroupUs(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n * POINT_BYTES);
  for (let i = 0; i < n; i++) out.set(ed25519.utils.toMontgomery(Point.BASE.multiply(BigInt(seed) * 1_000_003n + BigInt(i) + 1n).toBytes()), i * POINT_BYTES);
  return out;
}

function violation(fn: () => unknown): ProtocolViolation {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolViolation) return err;
    throw err;
  }
  throw new Error('expected a ProtocolViolation');
}

describe('the edwards25519 lift', () => {
  it('maps a u-coordinate to a point whose u is the same, and back', () => {
    const us = subgroupUs(1, 16);
    const lifted = liftToEdwards(us);
    for (let i = 0; i < 16; i++) {
      const p = Point.fromBytes(lifted.subarray(i * 32, i * 32 + 32));
      expect(hex(ed25519.utils.toMontgomery(p.toBytes()))).toBe(hex(us.subarray(i * 32, i * 32 + 32)));
      expect(p.toAffine().x & 1n).toBe(0n);
    }
    expect(hex(edwardsToU(lifted))).toBe(hex(us));
  });

  it.each(backends.map((g) => [g.name, g] as const))('%s: k times the lift has the u-coordinate of X25519 with the clamped secret', (_n, g) => {
    const group = groupBackends().find((b) => b.name === g.name)!;
    const secret = QuerySecret.fromBytes(Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1));
    const us = subgroupUs(2, 8);
    const proved = proveReblind(g, secret, us, context);
    expect(hex(edwardsToU(proved.subarray(0, us.length)))).toBe(hex(group.blind(secret, us)));
  });
});

describe.each(backends.map((g) => [g.name, g] as const))('%s: the batched proof (RFC 9497 §2.2)', (_n, g) => {
  const secret = QuerySecret.fromBytes(new Uint8Array(32).fill(0x42));
  const us = subgroupUs(3, 6);
  const key = reblindKey(g, secret);
  const proved = proveReblind(g, secret, us, context);
  const returned = proved.subarray(0, us.length);
  const proof = proved.subarray(us.length);

  it('an honest batch verifies, and gives the u-coordinates X25519 gives', () => {
    const group = groupBackends().find((b) => b.name === g.name)!;
    expect(hex(checkReblind(g, { sent: us, returned, proof, key, context }))).toBe(hex(group.blind(secret, us)));
  });

  it('the proof binds its context: another batch, part, query or collaboration refuses it', () => {
    for (const other of [reblindContext('unit-test', 'ab'.repeat(16), 0, 1), reblindContext('unit-test', 'ab'.repeat(16), 1, 0), reblindContext('unit-test', 'cd'.repeat(16), 0, 0), reblindContext('other', 'ab'.repeat(16), 0, 0)]) {
      expect(violation(() => checkReblind(g, { sent: us, returned, proof, key, context: other })).reason).toBe('bad-proof');
    }
  });

  it('a swapped pair, a point of another secret, or a flipped proof bit is bad-proof', () => {
    const swapped = Uint8Array.from(returned);
    swapped.set(returned.subarray(0, 32), 32);
    swapped.set(returned.subarray(32, 64), 0);
    expect(violation(() => checkReblind(g, { sent: us, returned: swapped, proof, key, context })).reason).toBe('bad-proof');
    const otherSecret = proveReblind(g, QuerySecret.fromBytes(new Uint8Array(32).fill(0x43)), us, context);
    expect(violation(() => checkReblind(g, { sent: us, returned: otherSecret.subarray(0, us.length), proof: otherSecret.subarray(us.length), key, context })).reason).toBe('bad-proof');
    const flipped = Uint8Array.from(proof);
    flipped[40]! ^= 1;
    expect(violation(() => checkReblind(g, { sent: us, returned, proof: flipped, key, context })).reason).toBe('bad-proof');
    // A proof scalar that is not reduced mod L (RFC 9497 DeserializeScalar fails).
    const unreduced = Uint8Array.from(proof);
    unreduced.fill(0xff, 32);
    expect(violation(() => checkReblind(g, { sent: us, returned, proof: unreduced, key, context })).reason).toBe('bad-proof');
  });

  it('a point off the subgroup, of small order or not canonical is invalid-point, before the proof', () => {
    const withTorsion = Uint8Array.from(returned);
    withTorsion.set(Point.fromBytes(returned.subarray(0, 32)).add(T2).toBytes(), 0);
    expect(violation(() => checkReblind(g, { sent: us, returned: withTorsion, proof, key, context })).reason).toBe('invalid-point');
    const smallOrder = Uint8Array.from(returned);
    smallOrder.set(T2.toBytes(), 32);
    expect(violation(() => checkReblind(g, { sent: us, returned: smallOrder, proof, key, context })).reason).toBe('invalid-point');
    // y + p: the same y, encoded non-canonically (y < 19 so that y + p fits in 255 bits: the identity's y = 1).
    const nonCanonical = Uint8Array.from(returned);
    nonCanonical.set(scalarBytes(2n ** 255n - 19n + 1n), 0);
    expect(violation(() => checkReblind(g, { sent: us, returned: nonCanonical, proof, key, context })).reason).toBe('invalid-point');
  });
});

describe('the bundled libsodium (CVE-2025-69277)', () => {
  it.runIf(bothBackends)('refuses P + (0, −1) as a point of the subgroup, as noble does', () => {
    const poisoned = Point.BASE.multiply(12345n).add(T2).toBytes();
    expect(edwardsFor('sodium').isValid(poisoned)).toBe(false);
    expect(nobleEdwards.isValid(poisoned)).toBe(false);
    expect(edwardsFor('sodium').isValid(Point.BASE.multiply(12345n).toBytes())).toBe(true);
  });
});

describe.runIf(bothBackends)('noble and sodium agree', () => {
  it('on proofs and their checks for random secrets, nonces and batches', () => {
    const [noble, sodium] = [edwardsFor('noble'), edwardsFor('sodium')];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.bigInt({ min: 1n, max: 2n ** 252n }), fc.integer({ min: 1, max: 4 }), fc.nat(1000), (s, nonce, n, seed) => {
        const secret = QuerySecret.fromBytes(s);
        const us = subgroupUs(seed, n);
        const a = proveReblind(noble, secret, us, context, nonce);
        expect(hex(proveReblind(sodium, secret, us, context, nonce))).toBe(hex(a));
        expect(hex(reblindKey(sodium, secret))).toBe(hex(reblindKey(noble, secret)));
        const key = reblindKey(noble, secret);
        const ret = a.subarray(0, us.length);
        const proof = a.subarray(us.length);
        expect(hex(checkReblind(sodium, { sent: us, returned: ret, proof, key, context }))).toBe(hex(checkReblind(noble, { sent: us, returned: ret, proof, key, context })));
      }),
      { numRuns: 15 },
    );
  });

  it('on generateProof and verifyProof at the RFC level', () => {
    const [noble, sodium] = [edwardsFor('noble'), edwardsFor('sodium')];
    const k = 123456789n;
    const C = [Point.BASE.multiply(5n).toBytes(), Point.BASE.multiply(9n).toBytes()];
    const D = C.map((c) => noble.multiply(k, c));
    const B = noble.multiplyBase(k);
    const proof = generateProof(noble, k, B, C, D, context, 777n);
    expect(hex(generateProof(sodium, k, B, C, D, context, 777n))).toBe(hex(proof));
    expect(verifyProof(sodium, B, C, D, proof, context)).toBe(true);
    expect(verifyProof(noble, B, C, [D[1]!, D[0]!], proof, context)).toBe(false);
  });
});
