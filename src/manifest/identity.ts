import { ed25519 } from '@noble/curves/ed25519.js';
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { CleanroomError, errorMessage } from '../errors.js';
import { MemberId } from './schema.js';

/** A member's long-term Ed25519 identity: signs the manifest and proves the node in every channel handshake. */
export interface Identity {
  readonly memberId: string;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

const IdentityFile = z.strictObject({
  memberId: MemberId,
  publicKey: z.string().regex(/^[0-9a-f]{64}$/),
  secretKey: z.string().regex(/^[0-9a-f]{64}$/),
});

export function generateIdentity(memberId: string): Identity {
  const secretKey = ed25519.utils.randomSecretKey();
  return { memberId, secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

export async function writeIdentity(file: string, id: Identity): Promise<void> {
  const doc = { memberId: id.memberId, publicKey: hex(id.publicKey), secretKey: hex(id.secretKey) };
  // Owner-only: the secret key is the member's signature on every agreement.
  await writeFile(file, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
}

export async function readIdentity(file: string): Promise<Identity> {
  let doc;
  try {
    doc = IdentityFile.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch (err) {
    throw new CleanroomError('CONFIG_INVALID', `cannot read identity ${file}: ${errorMessage(err)}`);
  }
  const secretKey = Buffer.from(doc.secretKey, 'hex');
  const publicKey = ed25519.getPublicKey(secretKey);
  if (hex(publicKey) !== doc.publicKey) throw new CleanroomError('CONFIG_INVALID', `identity ${file}: public key does not match the secret key`);
  return { memberId: doc.memberId, publicKey, secretKey: new Uint8Array(secretKey) };
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
