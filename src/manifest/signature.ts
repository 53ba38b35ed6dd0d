import { ed25519 } from '@noble/curves/ed25519.js';
import { z } from 'zod';
import { CleanroomError } from '../errors.js';
import { manifestHash } from './canonical.js';
import { Manifest, MemberId } from './schema.js';

/** Domain separation: a manifest signature can never be replayed as a handshake signature or vice versa. */
const SIGNATURE_CONTEXT = new TextEncoder().encode('cleanroom/1 manifest signature\n');

export const SignedManifest = z.strictObject({
  manifest: z.unknown(),
  signatures: z.record(MemberId, z.string().regex(/^[0-9a-f]{128}$/, 'an Ed25519 signature as lowercase hex')),
});
export type SignedManifest = { manifest: Manifest; signatures: Record<string, string> };

function signedMessage(hash: Uint8Array): Uint8Array {
  const msg = new Uint8Array(SIGNATURE_CONTEXT.length + hash.length);
  msg.set(SIGNATURE_CONTEXT);
  msg.set(hash, SIGNATURE_CONTEXT.length);
  return msg;
}

export function signManifest(manifest: Manifest, memberId: string, secretKey: Uint8Array): string {
  const member = manifest.members.find((m) => m.id === memberId);
  if (!member) throw new CleanroomError('MANIFEST_INVALID', `${memberId} is not a member of this manifest`);
  const publicKey = Buffer.from(ed25519.getPublicKey(secretKey)).toString('hex');
  if (publicKey !== member.publicKey) {
    throw new CleanroomError('MANIFEST_INVALID', `the manifest lists another public key for ${memberId} than this node's identity`);
  }
  return Buffer.from(ed25519.sign(signedMessage(manifestHash(manifest)), secretKey)).toString('hex');
}

/** The members whose signature is missing or does not verify, in manifest order. */
export function unsignedMembers(signed: SignedManifest): string[] {
  const message = signedMessage(manifestHash(signed.manifest));
  return signed.manifest.members
    .filter((m) => {
      const sig = signed.signatures[m.id];
      if (sig === undefined) return true;
      try {
        return !ed25519.verify(Buffer.from(sig, 'hex'), message, Buffer.from(m.publicKey, 'hex'));
      } catch {
        return true;
      }
    })
    .map((m) => m.id);
}

/** Parses a signed-manifest document; `requireAllSignatures` is what a node demands before running anything. */
export function parseSignedManifest(doc: unknown, requireAllSignatures: boolean): SignedManifest {
  const outer = SignedManifest.safeParse(doc);
  if (!outer.success) throw new CleanroomError('MANIFEST_INVALID', `manifest file: ${z.prettifyError(outer.error)}`);
  const inner = Manifest.safeParse(outer.data.manifest);
  if (!inner.success) throw new CleanroomError('MANIFEST_INVALID', `manifest: ${z.prettifyError(inner.error)}`);
  const stray = Object.keys(outer.data.signatures).filter((id) => !inner.data.members.some((m) => m.id === id));
  if (stray.length > 0) throw new CleanroomError('MANIFEST_INVALID', `signatures from non-members: ${stray.join(', ')}`);
  const signed = { manifest: inner.data, signatures: outer.data.signatures };
  if (requireAllSignatures) {
    const missing = unsignedMembers(signed);
    if (missing.length > 0) {
      throw new CleanroomError(
        'MANIFEST_UNSIGNED',
        `the manifest is not signed by every member: missing or invalid signature of ${missing.join(', ')}; each member runs \`cleanroom manifest sign\``,
      );
    }
  }
  return signed;
}
