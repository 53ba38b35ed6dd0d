import { Packr } from 'msgpackr';
import { z } from 'zod';
import { ProtocolViolation } from '../errors.js';
import { MAX_FRAME_BYTES } from '../limits.js';
import { checkFrameShape } from './frame-shape.js';

/** Plain msgpack maps (no msgpackr records or extensions): the format other implementations can read. */
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encodeFrame(msg: unknown): Uint8Array {
  return packr.pack(msg);
}

/** Decodes and validates one frame: the only place inbound bytes become a typed message. */
export function decodeFrame<T>(bytes: Uint8Array, schema: z.ZodType<T>, what: string): T {
  if (bytes.length > MAX_FRAME_BYTES) throw new ProtocolViolation('over-limit', `${what} frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  checkFrameShape(bytes, what);
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch {
    throw new ProtocolViolation('malformed-frame', `${what} frame is not valid msgpack`);
  }
  const parsed = schema.safeParse(raw);
  // The first issues say what is wrong; formatting thousands (one per group of a bad labels frame) costs for nothing.
  if (!parsed.success) throw new ProtocolViolation('malformed-frame', `invalid ${what} message: ${z.prettifyError(new z.ZodError(parsed.error.issues.slice(0, 3))).slice(0, 500)}`);
  return parsed.data;
}
