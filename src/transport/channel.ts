import { createCipheriv, createDecipheriv } from 'node:crypto';
import { CleanroomError } from '../errors.js';
import { MAX_PADDED_BYTES } from './frame-padding.js';

const TAG_BYTES = 16;

/** What the socket must accept: the largest padded plaintext frame plus its authentication tag. */
export const MAX_SEALED_FRAME_BYTES = MAX_PADDED_BYTES + TAG_BYTES;

/**
 * ChaCha20-Poly1305 (RFC 8439) per direction with a counter nonce. The receiver uses its own counter, so a
 * replayed, reordered, dropped or forged frame fails authentication and ends the connection.
 */
export class ChannelCipher {
  private counter = 0n;
  private wiped = false;

  constructor(private readonly key: Uint8Array) {}

  /** Zeroes the key when the connection ends: a later heap dump finds no key to decrypt a recorded session with. */
  wipe(): void {
    this.key.fill(0);
    this.wiped = true;
  }

  seal(plaintext: Uint8Array): Uint8Array {
    this.assertLive();
    const c = createCipheriv('chacha20-poly1305', this.key, this.nextNonce(), { authTagLength: TAG_BYTES });
    return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  }

  open(frame: Uint8Array): Uint8Array {
    this.assertLive();
    if (frame.length < TAG_BYTES) throw new CleanroomError('AUTH_FAILED', 'frame shorter than its tag', { peerFault: true });
    const d = createDecipheriv('chacha20-poly1305', this.key, this.nextNonce(), { authTagLength: TAG_BYTES });
    d.setAuthTag(frame.subarray(frame.length - TAG_BYTES));
    try {
      return Buffer.concat([d.update(frame.subarray(0, frame.length - TAG_BYTES)), d.final()]);
    } catch {
      throw new CleanroomError('AUTH_FAILED', 'a frame failed authentication (forged, replayed or out of order)', { peerFault: true });
    }
  }

  private assertLive(): void {
    if (this.wiped) throw new CleanroomError('INTERNAL', 'channel key used after the connection ended');
  }

  private nextNonce(): Buffer {
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64LE(this.counter, 4);
    this.counter += 1n;
    return nonce;
  }
}
