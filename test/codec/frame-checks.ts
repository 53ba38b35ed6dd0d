/**
 * What every codec test asks of a message: a valid one crosses encodeFrame/decodeFrame unchanged, and a frame that
 * breaks the message's schema or the msgpack subset of the protocol is refused as a malformed frame. Each refusal
 * starts from a message the schema accepts and changes one thing, so it can only be refused for that change.
 */
import { expect } from 'vitest';
import { z } from 'zod';
import { ProtocolViolation } from '../../src/errors.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';

export type Message = Record<string, unknown>;
export type Union = z.ZodType<unknown>;

/**
 * Byte fields as hex: msgpackr decodes bin as a Buffer, which a deep equality tells from the Uint8Array sent by its
 * class alone, and compares element by element, which made the property over batches of up to 4096 points ten times slower.
 */
const hexBytes = (msg: Message): Message => Object.fromEntries(Object.entries(msg).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]));

/** Decodes to what was sent, and re-encodes to the same bytes. */
export function expectRoundTrip(union: Union, msg: Message): void {
  const frame = encodeFrame(msg);
  const decoded = decodeFrame(frame, union, 'test') as Message;
  expect(hexBytes(decoded)).toEqual(hexBytes(msg));
  expect(Buffer.compare(encodeFrame(decoded), frame)).toBe(0);
}

/** The error decoding throws: a ProtocolViolation for a malformed frame, and nothing else. */
export function expectMalformed(union: Union, frame: Uint8Array): void {
  let thrown: unknown;
  try {
    decodeFrame(frame, union, 'test');
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ProtocolViolation);
  expect(thrown).toMatchObject({ code: 'PROTOCOL_VIOLATION', reason: 'malformed-frame', peerFault: true });
}

/** `valid` with `field` set to `value` (or removed, for undefined) is refused. */
export function expectFieldRefused(union: Union, valid: Message, field: string, value: unknown): void {
  expect(union.safeParse(valid).success).toBe(true);
  const changed = Object.fromEntries(Object.entries({ ...valid, [field]: value }).filter(([, v]) => v !== undefined));
  expectMalformed(union, encodeFrame(changed));
}

/**
 * What holds for every message whatever its fields: objects are strict, every field is required, an unknown type or
 * one of the other union is refused, and an extension (here msgpack's timestamp) in any field is refused by the
 * codec itself, before any schema: decoding with a schema that accepts anything still refuses it.
 */
export function expectStrictFrame(union: Union, valid: Message, otherUnionType: string): void {
  expectFieldRefused(union, valid, 'extra', 1);
  for (const field of Object.keys(valid)) expectFieldRefused(union, valid, field, undefined);
  expectFieldRefused(union, valid, 'type', 'unknown');
  expectFieldRefused(union, valid, 'type', otherUnionType);
  for (const field of Object.keys(valid)) expectMalformed(z.unknown(), encodeFrame({ ...valid, [field]: new Date(0) }));
}
