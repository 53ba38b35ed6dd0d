/**
 * WebSocket frames and HTTP upgrade requests built byte by byte (RFC 6455 §5.2), so that a test can send what no
 * WebSocket library would: wrong flags, reserved opcodes, lengths that lie, frames cut short.
 */
import { createHash, randomBytes } from 'node:crypto';

export const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface FrameSpec {
  readonly opcode: number;
  readonly payload?: Uint8Array;
  /** Defaults to true. */
  readonly fin?: boolean;
  /** RSV1..3 as a 3-bit number. */
  readonly rsv?: number;
  /** Client frames must be masked: null sends the payload unmasked. Defaults to a random mask. */
  readonly mask?: Uint8Array | null;
  /** The length the header declares, when it should differ from the payload's. */
  readonly declaredLength?: bigint;
}

export function frame(f: FrameSpec): Buffer {
  const payload = Buffer.from(f.payload ?? new Uint8Array(0));
  const length = f.declaredLength ?? BigInt(payload.length);
  const mask = f.mask === undefined ? randomBytes(4) : f.mask;
  const head = [((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | (f.opcode & 0x0f)];
  const maskBit = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 65536n) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(length);
  }
  const body = mask ? payload.map((b, i) => b ^ mask[i % 4]!) : payload;
  return Buffer.concat([Buffer.from(head), ext, mask ? Buffer.from(mask) : Buffer.alloc(0), body]);
}

export function closePayload(code: number, reason: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, reason]);
}

export interface UpgradeSpec {
  readonly method?: string;
  readonly path?: string;
  readonly httpVersion?: string;
  /** Header values; undefined leaves a default header out. */
  readonly headers?: Record<string, string | undefined>;
  /** Raw header lines appended as they are (malformed ones included). */
  readonly extraLines?: readonly string[];
}

/** A WebSocket upgrade request, valid unless the spec says otherwise. */
export function upgradeRequest(host: string, spec: UpgradeSpec = {}): Buffer {
  const headers: Record<string, string | undefined> = {
    Host: host,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...spec.headers,
  };
  const lines = [`${spec.method ?? 'GET'} ${spec.path ?? '/'} ${spec.httpVersion ?? 'HTTP/1.1'}`];
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) lines.push(`${k}: ${v}`);
  lines.push(...(spec.extraLines ?? []));
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

export interface ServerReply {
  /** The HTTP status the server answered with, if it answered at all. */
  readonly status: number | undefined;
  /** Opcodes of the WebSocket frames after a 101 response, as far as they arrived whole. */
  readonly opcodes: number[];
}

/** Reads what a server sent back: its HTTP status and, after a 101, the opcodes of its (unmasked) frames. */
export function readReply(bytes: Buffer): ServerReply {
  const end = bytes.indexOf('\r\n\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(bytes.subarray(0, Math.min(bytes.length, 32)).toString('latin1'));
  const status = statusLine ? Number(statusLine[1]) : undefined;
  const opcodes: number[] = [];
  if (status !== 101 || end < 0) return { status, opcodes };
  let at = end + 4;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let len = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (at + 4 > bytes.length) break;
      len = bytes.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (at + 10 > bytes.length) break;
      len = Number(bytes.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (at + head + len > bytes.length) break;
    opcodes.push(opcode);
    at += head + len;
  }
  return { status, opcodes };
}

/** The Sec-WebSocket-Accept a server answers a key with (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

/** A server's 101 response to a client's upgrade request, valid unless `headers` overrides it. */
export function switchingProtocols(key: string, headers: Record<string, string | undefined> = {}): Buffer {
  const all: Record<string, string | undefined> = { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Accept': acceptKey(key), ...headers };
  const lines = ['HTTP/1.1 101 Switching Protocols', ...Object.entries(all).flatMap(([k, v]) => (v === undefined ? [] : [`${k}: ${v}`]))];
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}
