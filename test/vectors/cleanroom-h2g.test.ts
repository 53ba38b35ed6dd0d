import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { groupBackends } from '../../src/crypto/backend.js';
import { hashToGroupDst } from '../../src/crypto/group.js';
import type { SodiumNative } from '../../src/crypto/group-sodium.js';
import { QuerySecret } from '../../src/crypto/secret.js';

interface CleanroomVector {
  key: string;
  keyHex: string;
  hashToGroup: string;
  blindedA: string;
  blindedB: string;
  blindedAB: string;
}
interface CleanroomVectors {
  collaborationId: string;
  dst: string;
  scalarA: { label: string; hex: string };
  scalarB: { label: string; hex: string };
  vectors: CleanroomVector[];
}

const file = JSON.parse(
  readFileSync(new URL('../../protocol/vectors/cleanroom-h2g.json', import.meta.url), 'utf8'),
) as CleanroomVectors;
const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const dst = hashToGroupDst(file.collaborationId);
const secret = (s: { hex: string }) => QuerySecret.fromBytes(bytes(s.hex));

describe('cleanroom-h2g vectors themselves', () => {
  it('use the DST hashToGroupDst gives for the collaboration', () => {
    expect(new TextDecoder().decode(dst)).toBe(file.dst);
  });

  it('derive their scalars from their labels', () => {
    for (const s of [file.scalarA, file.scalarB]) {
      expect(createHash('sha512').update(s.label).digest().subarray(0, 32).toString('hex')).toBe(s.hex);
    }
  });

  it('are eight distinct keys, given as their UTF-8 bytes, some beyond ASCII', () => {
    expect(file.vectors).toHaveLength(8);
    expect(new Set(file.vectors.map((v) => v.key)).size).toBe(8);
    for (const v of file.vectors) expect(hex(new TextEncoder().encode(v.key))).toBe(v.keyHex);
    expect(file.vectors.some((v) => /[^\x00-\x7f]/.test(v.key))).toBe(true);
  });

  // Built here from the parts SPEC §3 names (noble's expand_message_xmd, libsodium's from_uniform and
  // add, noble's Montgomery map), apart from either backend's batching.
  it.runIf(groupBackends().length === 2).each(file.vectors)('H($key) is u(F(r0) + F(r1))', (v) => {
    const sodium = createRequire(import.meta.url)('sodium-native') as SodiumNative;
    const uniform = expand_message_xmd(bytes(v.keyHex), dst, 64, sha512);
    const [q0, q1, sum] = [new Uint8Array(32), new Uint8Array(32), new Uint8Array(32)];
    sodium.crypto_core_ed25519_from_uniform(q0, uniform.subarray(0, 32));
    sodium.crypto_core_ed25519_from_uniform(q1, uniform.subarray(32));
    sodium.crypto_core_ed25519_add(sum, q0, q1);
    expect(hex(ed25519.utils.toMontgomery(sum))).toBe(v.hashToGroup);
  });
});

describe.each(groupBackends().map((b) => [b.name, b] as const))('cleanroom-h2g on %s', (_name, group) => {
  it.each(file.vectors)('$key', (v) => {
    const h = group.hashToGroup([bytes(v.keyHex)], dst);
    expect(hex(h)).toBe(v.hashToGroup);
    const a = group.blind(secret(file.scalarA), h);
    const b = group.blind(secret(file.scalarB), h);
    expect(hex(a)).toBe(v.blindedA);
    expect(hex(b)).toBe(v.blindedB);
    // Commutativity is what makes PSI work: both orders of blinding meet at the same point.
    expect(hex(group.blind(secret(file.scalarB), a))).toBe(v.blindedAB);
    expect(hex(group.blind(secret(file.scalarA), b))).toBe(v.blindedAB);
  });

  it('handles all keys as one batch, in order', () => {
    const h = group.hashToGroup(file.vectors.map((v) => bytes(v.keyHex)), dst);
    expect(hex(h)).toBe(file.vectors.map((v) => v.hashToGroup).join(''));
    expect(hex(group.blind(secret(file.scalarA), h))).toBe(file.vectors.map((v) => v.blindedA).join(''));
  });

  it('gives other points under another collaboration', () => {
    const other = group.hashToGroup([bytes(file.vectors[0]!.keyHex)], hashToGroupDst('other-collab'));
    expect(hex(other)).not.toBe(file.vectors[0]!.hashToGroup);
  });
});
