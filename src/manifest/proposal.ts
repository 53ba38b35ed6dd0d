import { z } from 'zod';
import { CleanroomError } from '../errors.js';
import { manifestHash } from './canonical.js';
import { Manifest } from './schema.js';
import { unsignedMembers, type SignedManifest } from './signature.js';

/**
 * The life of a manifest after its first version: a member proposes an edit as the next version, with no
 * signature; each member reads its diff and signs; a running node loads it once every member has.
 */

/**
 * The next version from an edit of the current one: version + 1 whatever the edit says, no signature (the
 * signatures of the current version sign another hash). The edit may be a bare manifest or a signed-manifest file.
 */
export function proposeManifest(current: Manifest, edited: unknown): SignedManifest {
  const body = isSignedDoc(edited) ? edited.manifest : edited;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CleanroomError('MANIFEST_INVALID', 'the edit is not a manifest (a JSON object)');
  const parsed = Manifest.safeParse({ ...body, version: current.version + 1 });
  if (!parsed.success) throw new CleanroomError('MANIFEST_INVALID', `the edit: ${z.prettifyError(parsed.error)}`);
  const next = parsed.data;
  if (next.collaborationId !== current.collaborationId) {
    throw new CleanroomError('MANIFEST_INVALID', `the edit is of collaboration ${next.collaborationId}, the current manifest of ${current.collaborationId}; a new collaboration starts from a manifest of its own`);
  }
  if (Buffer.compare(manifestHash({ ...next, version: current.version }), manifestHash(current)) === 0) {
    throw new CleanroomError('MANIFEST_INVALID', `the edit changes nothing of manifest v${current.version}`);
  }
  return { manifest: next, signatures: {} };
}

function isSignedDoc(doc: unknown): doc is { manifest: unknown } {
  return typeof doc === 'object' && doc !== null && 'manifest' in doc && 'signatures' in doc;
}

export interface SignatureStatus {
  readonly collaborationId: string;
  readonly version: number;
  readonly hash: string;
  /** Members whose signature of this version verifies, in manifest order. */
  readonly signed: readonly string[];
  /** Members whose signature is missing or does not verify (one of another version, say). */
  readonly missing: readonly string[];
}

/** Who has signed this version and who has not: what `cleanroom manifest status` and the console show. */
export function signatureStatus(signed: SignedManifest): SignatureStatus {
  const missing = unsignedMembers(signed);
  const m = signed.manifest;
  return {
    collaborationId: m.collaborationId,
    version: m.version,
    hash: Buffer.from(manifestHash(m)).toString('hex'),
    signed: m.members.map((x) => x.id).filter((id) => !missing.includes(id)),
    missing,
  };
}
