import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ed25519, ed25519_hasher } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { groupBackends } from '../../src/crypto/backend.js';
import { hashToGroupDst } from '../../src/crypto/group.js';
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

  it.each(file.vectors)('H($key) is the u-coordinate of noble hash_to_curve', (v) => {
    const point = ed25519_hasher.hashToCurve(bytes(v.keyHex), { DST: dst });
    expect(hex(ed25519.utils.toMontgomery(point.toBytes()))).toBe(v.hashToGroup);
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
