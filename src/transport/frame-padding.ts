import { WIRE_POINT_BYTES } from '../wire/messages.js';
import { ProtocolViolation } from '../errors.js';
import { MAX_FRAME_BYTES, PSI_BATCH_KEYS } from '../limits.js';

/*
 * What a network observer sees of a session is the length of each sealed frame. Unpadded, that length would give
 * every key-set size exactly (the last batch of a point stream), the number of groups (a share matrix) and the
 * bytes of the released labels. Inside the channel every frame's plaintext is therefore
 *   u32 LE length L || the message's L bytes || zeros,
 * padded to a size that depends on the message's kind only: a point batch to the size of a full batch (so a stream
 * shows its number of batches, the set's size to PSI_BATCH_KEYS), anything else to the next power of two from
 * MIN_PADDED_BYTES (the number of groups and the labels' bytes to a factor of two). SPEC §2.
 */

const LENGTH_BYTES = 4;
/** Control messages (propose, accept, abort, a count) all fit: the same size on the wire. */
export const MIN_PADDED_BYTES = 1024;
/** A full point batch, plus its message's other fields (type, queryId, stage or set, seq) with room. */
export const POINT_FRAME_BYTES = PSI_BATCH_KEYS * WIRE_POINT_BYTES + 512;
/** The largest padded plaintext: one more length prefix than the largest message. */
export const MAX_PADDED_BYTES = MAX_FRAME_BYTES + LENGTH_BYTES;

/** The padded size of a message of `length` bytes and this type. */
export function paddedSize(type: string, length: number): number {
  const needed = LENGTH_BYTES + length;
  if (type === 'points' || type === 'ring') return Math.max(needed, POINT_FRAME_BYTES);
  let size = MIN_PADDED_BYTES;
  while (size < needed) size *= 2;
  return Math.min(size, Math.max(needed, MAX_PADDED_BYTES));
}

/** The message's bytes, length-prefixed and padded with zeros to its kind's size. */
export function pad(type: string, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(paddedSize(type, message.length));
  new DataView(out.buffer).setUint32(0, message.length, true);
  out.set(message, LENGTH_BYTES);
  return out;
}

/** The message inside an authenticated plaintext: a length that does not fit is the peer's fault. */
export function unpad(plaintext: Uint8Array): Uint8Array {
  if (plaintext.length < LENGTH_BYTES) throw new ProtocolViolation('malformed-frame', `a padded frame of ${plaintext.length} bytes has no length`);
  const length = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).getUint32(0, true);
  if (length > plaintext.length - LENGTH_BYTES) throw new ProtocolViolation('malformed-frame', `a padded frame of ${plaintext.length} bytes claims a ${length}-byte message`);
  return plaintext.subarray(LENGTH_BYTES, LENGTH_BYTES + length);
}
