import { ed25519 } from '@noble/curves/ed25519.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalManifestBytes, manifestHash } from '../../src/manifest/canonical.js';
import { Manifest } from '../../src/manifest/schema.js';
import { parseSignedManifest, signManifest, unsignedMembers } from '../../src/manifest/signature.js';

const vector = JSON.parse(readFileSync(new URL('../../protocol/vectors/manifest-signature.json', import.meta.url), 'utf8'));
const manifest = Manifest.parse(vector.manifest);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Reverses the key order of every object: JCS must not care. */
function shuffledKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shuffledKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, shuffledKeys(x)]));
  return v;
}

describe('manifest canonical hash and signatures (RFC 8785 + Ed25519 vector)', () => {
  it('serialises to the vector\'s canonical JSON: sorted keys, no whitespace, UTF-8 as is', () => {
    const text = new TextDecoder().decode(canonicalManifestBytes(manifest));
    expect(text).toBe(vector.canonical);
    expect(text.startsWith('{"collaborationId":"spring-campaign","format":')).toBe(true);
    expect(text).toContain('"min":-100000.5');
    expect(text).toContain('Publisher Média');
  });

  it('hashes to SHA-256 of the canonical bytes, whatever the key order of the document', () => {
    expect(hex(manifestHash(manifest))).toBe(vector.hash);
    expect(createHash('sha256').update(vector.canonical, 'utf8').digest('hex')).toBe(vector.hash);
    expect(hex(manifestHash(Manifest.parse(shuffledKeys(vector.manifest))))).toBe(vector.hash);
  });

  it('produces the vector signatures (Ed25519 is deterministic) and verifies them', () => {
    for (const s of vector.signers) {
      expect(signManifest(manifest, s.member, Buffer.from(s.secretKey, 'hex'))).toBe(s.signature);
    }
    const signatures = Object.fromEntries(vector.signers.map((s: { member: string; signature: string }) => [s.member, s.signature]));
    expect(unsignedMembers({ manifest, signatures })).toEqual([]);
    expect(parseSignedManifest({ manifest: vector.manifest, signatures }, true).manifest).toEqual(manifest);
  });

  it('signs the domain-separated hash, not the bare hash', () => {
    const s = vector.signers[0];
    const pub = ed25519.getPublicKey(Buffer.from(s.secretKey, 'hex'));
    expect(ed25519.verify(Buffer.from(s.signature, 'hex'), Buffer.from(vector.hash, 'hex'), pub)).toBe(false);
    const message = Buffer.concat([Buffer.from('cleanroom/1 manifest signature\n'), Buffer.from(vector.hash, 'hex')]);
    expect(ed25519.verify(Buffer.from(s.signature, 'hex'), message, pub)).toBe(true);
  });

  it('any change to the manifest invalidates every signature', () => {
    const signatures = Object.fromEntries(vector.signers.map((s: { member: string; signature: string }) => [s.member, s.signature]));
    const changed = { ...vector.manifest, version: vector.manifest.version + 1 };
    expect(unsignedMembers({ manifest: Manifest.parse(changed), signatures })).toEqual(['publisher', 'advertiser']);
    expect(() => parseSignedManifest({ manifest: changed, signatures }, true)).toThrow(/missing or invalid signature of publisher, advertiser/);
  });

  it('refuses to sign for a member whose key the manifest does not list', () => {
    expect(() => signManifest(manifest, 'publisher', Buffer.from(vector.signers[1].secretKey, 'hex'))).toThrow(/another public key/);
    expect(() => signManifest(manifest, 'stranger', Buffer.from(vector.signers[1].secretKey, 'hex'))).toThrow(/not a member/);
  });
});
