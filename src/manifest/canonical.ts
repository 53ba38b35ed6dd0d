import canonicalizeModule from 'canonicalize';
import { createHash } from 'node:crypto';
import type { Manifest } from './schema.js';

// canonicalize is CommonJS whose typings declare an ES default export; at run time the default import is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** RFC 8785 (JCS) bytes of the manifest: the same agreement hashes the same on every member's machine. */
export function canonicalManifestBytes(manifest: Manifest): Uint8Array {
  const text = canonicalize(manifest);
  if (text === undefined) throw new TypeError('manifest is not serialisable');
  return new TextEncoder().encode(text);
}

/** SHA-256 of the canonical bytes: what every member signs and what peers compare in the handshake. */
export function manifestHash(manifest: Manifest): Uint8Array {
  return new Uint8Array(createHash('sha256').update(canonicalManifestBytes(manifest)).digest());
}
