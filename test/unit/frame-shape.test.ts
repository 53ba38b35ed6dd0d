/**
 * The shape check every frame passes before msgpackr decodes it: every message the protocol sends passes, up to the
 * largest labels frame; frames whose headers would make the decoder allocate far more than their size are refused
 * before anything is allocated.
 */
import { describe, expect, it } from 'vitest';
import { HandshakeMessage, WireMessage, PROTOCOL_VERSION } from '../../src/wire/messages.js';
import { MAX_FRAME_BYTES, MAX_FRAME_CONTAINERS, MAX_FRAME_DEPTH, MAX_GROUP_BY_COLUMNS, MAX_GROUPS } from '../../src/limits.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { checkFrameShape } from '../../src/wire/frame-shape.js';

const Q = 'ab'.repeat(16);
const bytes = (n: number) => new Uint8Array(n).fill(7);

const MESSAGES: Record<string, unknown>[] = [
  { type: 'hello', version: PROTOCOL_VERSION, collaborationId: 'c', manifestHash: bytes(32), manifestVersion: 1, member: 'alpha', ephemeral: bytes(32) },
  { type: 'auth', signature: bytes(64) },
  { type: 'bye' },
  { type: 'propose', queryId: Q, querier: 'alpha', sql: 'SELECT COUNT(*) FROM a JOIN b ON a.k = b.k' },
  { type: 'accept', queryId: Q },
  { type: 'join', queryId: Q },
  { type: 'reject', queryId: Q, code: 'RULE_VIOLATION', message: 'no' },
  { type: 'abort', queryId: Q, code: 'TIMEOUT', message: 'late' },
  { type: 'abort', queryId: Q, code: 'PROTOCOL_VIOLATION', message: 'batch 0 where 3 was due', reason: 'replayed-batch' },
  { type: 'points', queryId: Q, stage: 'pq', seq: 2 ** 32 - 1, points: bytes(4096 * 32) },
  { type: 'points-end', queryId: Q, stage: 'q', batches: 3, count: 9000 },
  { type: 'ring', queryId: Q, set: '*', stage: 'final', seq: 0, points: bytes(32) },
  { type: 'ring-end', queryId: Q, set: 'beta', stage: 'hop', batches: 1, count: 1 },
  { type: 'shares', queryId: Q, groups: MAX_GROUPS, width: 18, values: bytes(MAX_GROUPS * 18 * 16) },
  { type: 'open', queryId: Q, stage: 'values', values: bytes(160) },
  // The most containers a frame may hold: its map, the list, one list per group.
  { type: 'labels', queryId: Q, labels: Array.from({ length: MAX_GROUPS }, (_, g) => Array.from({ length: MAX_GROUP_BY_COLUMNS }, (_, c) => (c % 3 === 0 ? null : c % 3 === 1 ? g : `g${g}`))) },
];

const shapeError = (re: RegExp) => expect.objectContaining({ code: 'PROTOCOL_VIOLATION', reason: 'malformed-frame', message: expect.stringMatching(re) });
const refuses = (frame: Uint8Array, re: RegExp) => expect(() => checkFrameShape(frame, 'session')).toThrow(shapeError(re));
const header = (type: number, n: number, width: 2 | 4) => {
  const b = Buffer.alloc(1 + width);
  b[0] = type;
  if (width === 2) b.writeUInt16BE(n, 1);
  else b.writeUInt32BE(n, 1);
  return b;
};

describe('frame shape', () => {
  it('passes every message the protocol sends, up to the largest labels frame, and they decode unchanged', () => {
    for (const m of MESSAGES) {
      const frame = encodeFrame(m);
      expect(() => checkFrameShape(frame, 'session')).not.toThrow();
      const decoded = m.type === 'hello' || m.type === 'auth' ? decodeFrame(frame, HandshakeMessage, 'handshake') : decodeFrame(frame, WireMessage, 'session');
      expect(Buffer.compare(encodeFrame(decoded), frame)).toBe(0);
    }
  });

  it('refuses a frame that is not one map', () => {
    refuses(new Uint8Array(0), /it is not a map/);
    for (const v of [[1, 2], 5, 'hello', null, bytes(3)]) refuses(encodeFrame(v), /it is not a map/);
    refuses(Buffer.concat([encodeFrame({ type: 'bye' }), Buffer.from([0xc0])]), /1 bytes after the map/);
    refuses(Buffer.concat([encodeFrame({ type: 'bye' }), encodeFrame({ type: 'bye' })]), /bytes after the map/);
  });

  it('refuses keys that are not strings, extension types and reserved bytes', () => {
    refuses(Buffer.from([0x81, 0x01, 0xc0]), /map key of type 0x1 \(keys are strings\)/);
    refuses(Buffer.from([0x81, 0x90, 0xc0]), /map key of type 0x90/);
    for (const ext of [[0xd4, 0x01, 0x00], [0xd6, 0xff, 0, 0, 0, 0], [0xc7, 0x01, 0x72, 0x00], [0xc1]]) {
      refuses(Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), Buffer.from(ext)]), /extensions and reserved types are not part of the protocol/);
    }
  });

  it('refuses lengths that run past the end of the frame', () => {
    refuses(Buffer.from([0x81, 0xa5, 0x61]), /a length of 5 runs past the end/);
    refuses(Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), header(0xc6, 1 << 30, 4)]), /a length of 1073741824 runs past the end/);
    refuses(Buffer.from([0x81, 0xa1, 0x78, 0xcb, 0, 0]), /a length of 8 runs past the end/);
    refuses(Buffer.from([0x81, 0xa1, 0x78, 0xdd, 0, 0]), /a length of 4 runs past the end/);
  });

  it('refuses a container that declares more entries than the frame has bytes, before anything is allocated', () => {
    // A 5-byte array header of 30 million entries: msgpackr would allocate 240 MB for it.
    refuses(Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), header(0xdd, 30_000_000, 4)]), /an array declares 30000000 entries in 0 bytes/);
    refuses(Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), header(0xdf, 2 ** 32 - 1, 4), Buffer.alloc(100)]), /a map declares 4294967295 entries in 100 bytes/);
    refuses(header(0xde, 3, 2), /a map declares 3 entries in 0 bytes/);
  });

  it(`refuses nesting deeper than ${MAX_FRAME_DEPTH} and more than ${MAX_FRAME_CONTAINERS} containers`, () => {
    // 4 KiB of array headers of 65535 entries each: msgpackr would allocate 512 KiB per 3 bytes, some 700 MB.
    const bomb = Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), Buffer.alloc(4092, Buffer.from([0xdc, 0xff, 0xff]))]);
    refuses(bomb, /an array declares 65535 entries in 4089 bytes/);
    refuses(Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), Buffer.alloc(4000, 0x91), Buffer.from([0xc0])]), new RegExp(`nested more than ${MAX_FRAME_DEPTH} deep`));
    const deep = { type: 'labels', queryId: Q, labels: [[[1]]] };
    refuses(encodeFrame(deep), new RegExp(`nested more than ${MAX_FRAME_DEPTH} deep`));
    const wide = { type: 'labels', queryId: Q, labels: Array.from({ length: MAX_FRAME_CONTAINERS - 1 }, () => []) };
    refuses(encodeFrame(wide), new RegExp(`more than ${MAX_FRAME_CONTAINERS} maps and arrays`));
    const maps = Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), header(0xdd, 4_000_000, 4), Buffer.alloc(4_000_000, 0x80)]);
    refuses(maps, new RegExp(`more than ${MAX_FRAME_CONTAINERS} maps and arrays`));
  });

  it('a frame over MAX_FRAME_BYTES is refused as beyond the limit', () => {
    const big = encodeFrame({ type: 'open', queryId: Q, stage: 'values', values: bytes(MAX_FRAME_BYTES) });
    expect(() => decodeFrame(big, WireMessage, 'session')).toThrow(expect.objectContaining({ code: 'PROTOCOL_VIOLATION', reason: 'over-limit' }));
  });

  it('a labels frame of wrong cells costs one error per group, not one per cell', () => {
    const labels = { type: 'labels', queryId: Q, labels: Array.from({ length: MAX_GROUPS }, () => Array<boolean>(MAX_GROUP_BY_COLUMNS).fill(true)) };
    expect(() => decodeFrame(encodeFrame(labels), WireMessage, 'session')).toThrow(
      expect.objectContaining({ code: 'PROTOCOL_VIOLATION', reason: 'malformed-frame', message: expect.stringContaining('invalid session message: ✖ at most 16 labels, each a string of at most 1000 characters, a number or null\n  → at labels[0]') }),
    );
    expect(WireMessage.safeParse(labels).error?.issues).toHaveLength(MAX_GROUPS);
  });
});
