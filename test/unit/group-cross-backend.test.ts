import { createRequire } from 'node:module';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupBackends, selectBackend } from '../../src/crypto/backend.js';
import { hashToGroupDst, type PsiGroup } from '../../src/crypto/group.js';
import { nobleGroup } from '../../src/crypto/group-noble.js';
import { loadSodium, sodiumGroup, type SodiumNative } from '../../src/crypto/group-sodium.js';
import { uniformHasher } from '../../src/crypto/expand-message.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { CleanroomError } from '../../src/errors.js';

const P = 2n ** 255n - 19n;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const le = (n: bigint): Uint8Array => Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse());
const dst = hashToGroupDst('cross-backend-test');
const backends = groupBackends();
const bothBackends = backends.length === 2;

const arbKey = fc.uint8Array({ minLength: 0, maxLength: 300 });
const arbScalar = fc.uint8Array({ minLength: 32, maxLength: 32 });

function thrown(fn: () => unknown): CleanroomError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CleanroomError) return err;
    throw err;
  }
  throw new Error('expected a CleanroomError, nothing was thrown');
}

describe('expand_message_xmd', () => {
  it('equals @noble/curves expand_message_xmd (SHA-512, 64 bytes) for random messages and DSTs', () => {
    fc.assert(
      fc.property(arbKey, fc.uint8Array({ minLength: 1, maxLength: 255 }), (msg, tag) => {
        expect(hex(uniformHasher(tag, loadSodium())(msg))).toBe(hex(expand_message_xmd(msg, tag, 64, sha512)));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses an empty DST and one longer than 255 bytes', () => {
    expect(() => uniformHasher(new Uint8Array(0), loadSodium())).toThrow(RangeError);
    expect(() => nobleGroup.hashToGroup([new Uint8Array(1)], new Uint8Array(256))).toThrow(RangeError);
  });
});

describe.runIf(bothBackends)('noble and sodium agree', () => {
  // A sign error in one of the two mapped points gives F(r0) - F(r1) instead of F(r0) + F(r1): about half of all keys would differ.
  it('on hashToGroup for random batches of keys', () => {
    fc.assert(
      fc.property(fc.array(arbKey, { maxLength: 8 }), (keys) => {
        expect(hex(sodiumGroup.hashToGroup(keys, dst))).toBe(hex(nobleGroup.hashToGroup(keys, dst)));
      }),
      { numRuns: 100 },
    );
  });

  it('on blind for random scalars and hashed points', () => {
    fc.assert(
      fc.property(arbScalar, fc.array(arbKey, { minLength: 1, maxLength: 4 }), (scalar, keys) => {
        const points = nobleGroup.hashToGroup(keys, dst);
        const secret = QuerySecret.fromBytes(scalar);
        expect(hex(sodiumGroup.blind(secret, points))).toBe(hex(nobleGroup.blind(secret, points)));
      }),
      { numRuns: 100 },
    );
  });

  it('on blind for arbitrary canonical u, on the curve or its twist', () => {
    fc.assert(
      fc.property(arbScalar, fc.bigInt({ min: 2n, max: P - 2n }), (scalar, u) => {
        const secret = QuerySecret.fromBytes(scalar);
        expect(hex(sodiumGroup.blind(secret, le(u)))).toBe(hex(nobleGroup.blind(secret, le(u))));
      }),
      { numRuns: 100 },
    );
  });
});

describe.each(backends.map((b) => [b.name, b] as const))('%s', (_name, group: PsiGroup) => {
  it('is the one suite of this protocol version, with the X25519 base point', () => {
    expect(group.suite).toMatch(/^X25519\//);
    expect(new TextDecoder().decode(dst).endsWith(`-${group.suite.slice('X25519/'.length)}`)).toBe(true);
    expect(group.pointBytes).toBe(32);
    expect(hex(group.basePoint)).toBe('09'.padEnd(64, '0'));
  });

  it('validates what blind would refuse, naming the index', () => {
    const points = new Uint8Array(64);
    points.set(group.hashToGroup([new Uint8Array([3])], dst), 0);
    expect(() => group.validate(points.subarray(0, 32), 'test')).not.toThrow();
    const err = thrown(() => group.validate(points, 'test'));
    expect(err.code).toBe('PROTOCOL_VIOLATION');
    expect(err.message).toContain('test: point 1 has small order');
  });

  it('blinding commutes', () => {
    fc.assert(
      fc.property(arbScalar, arbScalar, arbKey, (a, b, key) => {
        const h = group.hashToGroup([key], dst);
        const sa = QuerySecret.fromBytes(a);
        const sb = QuerySecret.fromBytes(b);
        expect(hex(group.blind(sb, group.blind(sa, h)))).toBe(hex(group.blind(sa, group.blind(sb, h))));
      }),
      { numRuns: 30 },
    );
  });

  it('different keys hash to different points', () => {
    const out = group.hashToGroup([new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([1, 0])], dst);
    const points = [0, 1, 2].map((i) => hex(out.subarray(32 * i, 32 * i + 32)));
    expect(new Set(points).size).toBe(3);
  });

  const secret = QuerySecret.fromBytes(new Uint8Array(32).fill(7));
  const good = group.hashToGroup([new Uint8Array([1])], dst);

  it.each([0, 31, 33, 65])('rejects %i bytes of points', (length) => {
    const err = thrown(() => group.blind(secret, new Uint8Array(length)));
    expect(err.code).toBe('PROTOCOL_VIOLATION');
    expect(err.peerFault).toBe(true);
    expect(err.message).toContain(`${group.name} blind`);
  });

  it.each([
    ['u = p', P],
    ['u = p + 1', P + 1n],
    ['u = 2^255 - 1', 2n ** 255n - 1n],
    ['a valid u with the top bit set', (1n << 255n) | 9n],
  ])('rejects a non-canonical point: %s', (_label, u) => {
    const bad = Uint8Array.from(Buffer.from(u.toString(16).padStart(64, '0'), 'hex').reverse());
    const points = new Uint8Array(96);
    points.set(good, 0);
    points.set(good, 32);
    points.set(bad, 64);
    const err = thrown(() => group.blind(secret, points));
    expect(err.code).toBe('PROTOCOL_VIOLATION');
    expect(err.message).toContain('point 2 is not a canonical');
  });

  it('accepts the largest canonical u that is not of small order (p - 2)', () => {
    expect(group.blind(secret, le(P - 2n))).toHaveLength(32);
  });

  it('refuses a zeroed secret', () => {
    const s = QuerySecret.generate();
    s.zero();
    const err = thrown(() => group.blind(s, good));
    expect(err.code).toBe('INTERNAL');
  });
});

// The five canonical u whose order divides the cofactor 8: X25519 maps them to zero for every clamped scalar.
const SMALL_ORDER_U: [string, bigint][] = [
  ['u = 0', 0n],
  ['u = 1', 1n],
  ['u = p - 1', P - 1n],
  ['order 8 (a)', 325606250916557431795983626356110631294008115727848805560023387167927233504n],
  ['order 8 (b)', 39382357235489614581723060781553021112529911719440698176882885853963445705823n],
];

describe('small-order points', () => {
  const scalar = new Uint8Array(32).fill(0x42);

  it.each(SMALL_ORDER_U)('%s is refused by the libraries themselves', (_label, u) => {
    expect(() => x25519.scalarMult(scalar, le(u))).toThrow();
    if (bothBackends) {
      const sodium = createRequire(import.meta.url)('sodium-native') as SodiumNative;
      expect(() => sodium.crypto_scalarmult(new Uint8Array(32), scalar, le(u))).toThrow();
    }
  });

  it.each(backends.flatMap((g) => SMALL_ORDER_U.map(([label, u]) => [g.name, label, g, u] as const)))(
    '%s blind rejects %s naming its index',
    (_name, _label, group, u) => {
      const points = new Uint8Array(64);
      points.set(group.hashToGroup([new Uint8Array([9])], dst), 0);
      points.set(le(u), 32);
      const err = thrown(() => group.blind(QuerySecret.fromBytes(scalar), points));
      expect(err.code).toBe('PROTOCOL_VIOLATION');
      expect(err.message).toContain('point 1 has small order');
    },
  );
});

describe('QuerySecret', () => {
  it('wipes its bytes and refuses use after zero()', () => {
    const s = QuerySecret.generate();
    const view = s.bytes();
    expect(view.some((b) => b !== 0)).toBe(true);
    s.zero();
    expect(s.isZeroed).toBe(true);
    expect(view.every((b) => b === 0)).toBe(true);
    expect(thrown(() => s.bytes()).code).toBe('INTERNAL');
  });

  it('generates a fresh scalar each time', () => {
    expect(hex(QuerySecret.generate().bytes())).not.toBe(hex(QuerySecret.generate().bytes()));
  });

  it('copies fixed bytes, so the caller can wipe its own', () => {
    const input = new Uint8Array(32).fill(5);
    const s = QuerySecret.fromBytes(input);
    input.fill(0);
    expect(s.bytes().every((b) => b === 5)).toBe(true);
    expect(() => QuerySecret.fromBytes(new Uint8Array(31))).toThrow(RangeError);
  });
});

describe('selectBackend', () => {
  it('gives what was asked for, and sodium for auto where sodium loads', () => {
    expect(selectBackend('noble')).toBe(nobleGroup);
    expect(selectBackend('auto')).toBe(bothBackends ? sodiumGroup : nobleGroup);
    expect(selectBackend()).toBe(selectBackend('auto'));
    if (bothBackends) expect(selectBackend('sodium')).toBe(sodiumGroup);
    else expect(thrown(() => selectBackend('sodium')).code).toBe('CONFIG_INVALID');
  });

  it('rejects an unknown backend name', () => {
    expect(thrown(() => selectBackend('openssl' as 'noble')).code).toBe('CONFIG_INVALID');
  });
});
