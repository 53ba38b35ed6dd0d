import { Packr } from 'msgpackr';
import { z } from 'zod';
import { ProtocolViolation } from '../errors.js';
import { MAX_FRAME_BYTES } from '../limits.js';

/** Plain msgpack maps (no msgpackr records or extensions): the format other implementations can read. */
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encodeFrame(msg: unknown): Uint8Array {
  return packr.pack(msg);
}

/** Decodes and validates one frame: the only place inbound bytes become a typed message. */
export function decodeFrame<T>(bytes: Uint8Array, schema: z.ZodType<T>, what: string): T {
  if (bytes.length > MAX_FRAME_BYTES) throw new ProtocolViolation(`${what} frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch {
    throw new ProtocolViolation(`${what} frame is not valid msgpack`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ProtocolViolation(`invalid ${what} message: ${z.prettifyError(parsed.error).slice(0, 500)}`);
  return parsed.data;
}
