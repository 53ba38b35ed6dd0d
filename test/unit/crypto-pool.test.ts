import { describe, expect, it, afterAll } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
// The pool loads its worker from the compiled tree (npm test builds first): worker threads cannot run TypeScript.
// @ts-expect-error the compiled module has no declarations (tsc emits none); its types are those of src/crypto/pool.ts
import { createCryptoPool as createCompiledPool } from '../../dist/src/crypto/pool.js';
import type { createCryptoPool as CreateCryptoPool } from '../../src/crypto/pool.js';

const createCryptoPool = createCompiledPool as typeof CreateCryptoPool;
import { groupBackends } from '../../src/crypto/backend.js';
import { hashToGroupDst } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { blindPadded, failureError } from '../../src/crypto/worker-task.js';
import { edwardsFor } from '../../src/crypto/edwards.js';
import { proveReblind, reblindContext, reblindKey } from '../../src/crypto/verified-reblind.js';

const dst = hashToGroupDst('pool-test');
const keys = Array.from({ length: 300 }, (_, i) => `person${i}@example.com`);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const points = (b: Uint8Array) => Array.from({ length: b.length / 32 }, (_, i) => hex(b.subarray(i * 32, i * 32 + 32)));

/**
 * Whether a u-coordinate is an element of the prime-order subgroup, as a blinded key is: it is on the curve (not its
 * twist) and has no torsion component. u maps to the Edwards y = (u - 1) / (u + 1) (RFC 7748 §4.1).
 */
function inPrimeOrderSubgroup(u: Uint8Array): boolean {
  const Fp = ed25519.Point.Fp;
  const x = BigInt(`0x${hex(Uint8Array.from(u).reverse())}`);
  const y = Fp.div(Fp.sub(x, 1n), Fp.add(x, 1n));
  try {
    const point = ed25519.Point.fromBytes(Uint8Array.from(Buffer.from(y.toString(16).padStart(64, '0'), 'hex')).reverse());
    return !point.is0() && point.isTorsionFree();
  } catch {
    return false;
  }
}

describe.each(groupBackends().map((g) => [g.name, g] as const))('crypto pool on %s', (_name, group) => {
  const pool = createCryptoPool(group, 2);
  afterAll(() => pool.close());

  it('hashes and blinds exactly as the backend does on the main thread, batches in parallel', async () => {
    const secret = QuerySecret.generate();
    const batches = [keys.slice(0, 100), keys.slice(100, 200), keys.slice(200)];
    const hashed = await Promise.all(batches.map((b) => pool.hashToGroup(b, dst)));
    hashed.forEach((h, i) => expect(hex(h)).toBe(hex(group.hashToGroup(batches[i]!.map((k) => new TextEncoder().encode(k)), dst))));
    const expected = hashed.map((h) => hex(group.blind(secret, h)));
    const blinded = await Promise.all(hashed.map((h) => pool.blind(secret, h.slice())));
    expect(blinded.map(hex)).toEqual(expected);
  });

  it('reports a refused point with its code, its reason and the peer at fault', async () => {
    const bad = new Uint8Array(64);
    bad[32] = 1; // u = 0 then u = 1: small order
    await expect(pool.blind(QuerySecret.generate(), bad)).rejects.toMatchObject({ code: 'PROTOCOL_VIOLATION', reason: 'invalid-point', peerFault: true });
  });

  it('makes padding in the task (SPEC §10.2): fresh group elements at the indices asked, the keys raised around them', async () => {
    const secret = QuerySecret.generate();
    const hashed = group.hashToGroup(keys.slice(0, 10).map((k) => new TextEncoder().encode(k)), dst);
    const at = [0, 3, 4, 13];
    const out = points(await pool.blind(secret, hashed.slice(), Uint32Array.from(at)));
    expect(out).toHaveLength(14);
    expect(out.filter((_, i) => !at.includes(i))).toEqual(points(group.blind(secret, hashed)));
    const padding = at.map((i) => out[i]!);
    expect(new Set(padding).size).toBe(4);
    for (const p of padding) expect(inPrimeOrderSubgroup(Uint8Array.from(Buffer.from(p, 'hex')))).toBe(true);
    // A batch of padding alone, and padding a second time: new points each time.
    const alone = points(await pool.blind(secret, new Uint8Array(0), Uint32Array.of(0, 1)));
    expect(alone).toHaveLength(2);
    expect(alone.some((p) => padding.includes(p))).toBe(false);
  });

  it('refuses padding indices that do not fit the result: the machine\'s own bug, never a key where padding was asked', async () => {
    const secret = QuerySecret.generate();
    const hashed = group.hashToGroup([new TextEncoder().encode('a'), new TextEncoder().encode('b')], dst);
    for (const at of [[3], [1, 0], [1, 1], [0, 5]]) {
      await expect(pool.blind(secret, hashed.slice(), Uint32Array.from(at))).rejects.toMatchObject({ code: 'INTERNAL' });
    }
  });

  it('proves and checks a verified re-blinding (SPEC §4.2.1) as the main thread does; a bad proof comes back as bad-proof', async () => {
    const secret = QuerySecret.generate();
    const hashed = group.hashToGroup(keys.slice(0, 20).map((k) => new TextEncoder().encode(k)), dst);
    const context = reblindContext('pool-test', 'ab'.repeat(16), 0, 0);
    const g = edwardsFor(group.name);
    const proved = await pool.prove(secret, hashed.slice(), context);
    const returned = proved.subarray(0, hashed.length);
    const proof = proved.subarray(hashed.length);
    expect(hex(returned)).toBe(hex(proveReblind(g, secret, hashed, context).subarray(0, hashed.length)));
    const check = { sent: hashed, returned, proof, key: reblindKey(g, secret), context };
    expect(hex(await pool.check(check))).toBe(hex(group.blind(secret, hashed)));
    await expect(pool.check({ ...check, context: reblindContext('pool-test', 'ab'.repeat(16), 0, 1) })).rejects.toMatchObject({ code: 'PROTOCOL_VIOLATION', reason: 'bad-proof', peerFault: true });
  });

  it('refuses a zeroed secret before any task starts', () => {
    const s = QuerySecret.generate();
    s.zero();
    expect(() => pool.blind(s, new Uint8Array(32))).toThrow(/zeroed/);
  });
});

describe('padding points (worker-task.ts blindPadded)', () => {
  it('are elements of the prime-order subgroup like any blinded key, where a small-order point or a twist point is not', () => {
    for (const group of groupBackends()) {
      const out = blindPadded(group, QuerySecret.generate(), new Uint8Array(0), Uint32Array.from({ length: 64 }, (_, i) => i));
      const all = points(out);
      expect(new Set(all).size).toBe(64);
      for (const p of all) expect(inPrimeOrderSubgroup(Uint8Array.from(Buffer.from(p, 'hex')))).toBe(true);
    }
    // The check bites: u of order 8, and u = 2, on the twist.
    expect(inPrimeOrderSubgroup(Uint8Array.from(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex')))).toBe(false);
    expect(inPrimeOrderSubgroup(Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 2 : 0)))).toBe(false);
  });
});

describe('what crosses the worker boundary back', () => {
  it('a failure is parsed, never cast: an unknown code or a malformed answer is INTERNAL', () => {
    expect(failureError({ ok: false, code: 'PROTOCOL_VIOLATION', message: 'm', peerFault: true, reason: 'bad-length' })).toMatchObject({ code: 'PROTOCOL_VIOLATION', reason: 'bad-length' });
    expect(failureError({ ok: false, code: 'TIMEOUT', message: 'm', peerFault: false })).toMatchObject({ code: 'TIMEOUT', peerFault: false });
    expect(failureError({ ok: false, code: 'NOT_A_CODE', message: 'm', peerFault: true }).code).toBe('INTERNAL');
    expect(failureError({ ok: true }).code).toBe('INTERNAL');
    expect(failureError(undefined).code).toBe('INTERNAL');
  });
});
