import { describe, expect, it, afterAll } from 'vitest';
// The pool loads its worker from the compiled tree (npm test builds first): worker threads cannot run TypeScript.
// @ts-expect-error the compiled module has no declarations (tsc emits none); its types are those of src/crypto/pool.ts
import { createCryptoPool as createCompiledPool } from '../../dist/src/crypto/pool.js';
import type { createCryptoPool as CreateCryptoPool } from '../../src/crypto/pool.js';

const createCryptoPool = createCompiledPool as typeof CreateCryptoPool;
import { groupBackends } from '../../src/crypto/backend.js';
import { hashToGroupDst } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { failureError } from '../../src/crypto/worker-task.js';

const dst = hashToGroupDst('pool-test');
const keys = Array.from({ length: 300 }, (_, i) => `person${i}@example.com`);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

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

  it('refuses a zeroed secret before any task starts', () => {
    const s = QuerySecret.generate();
    s.zero();
    expect(() => pool.blind(s, new Uint8Array(32))).toThrow(/zeroed/);
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
