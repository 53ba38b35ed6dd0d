/**
 * Hostile input before authentication, against a live node process: raw TCP garbage, broken HTTP upgrades, every
 * kind of malformed WebSocket frame, oversized frames and bad hellos, built byte by byte and sent over loopback.
 * The node must never exit, end every such connection within a bound, stay small, answer an unauthenticated peer
 * with nothing of its own (no hello, so no manifest hash), and serve a correct query afterwards. The same holds
 * for the side that dials (a hostile server at a member's endpoint), and past the cap on unauthenticated
 * connections, where the oldest are closed to make room.
 *
 * CLEANROOM_FUZZ_PREAUTH sets the number of inputs (default 1000), CLEANROOM_FUZZ_SEED the seed (printed).
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDSHAKE_TIMEOUT_MS, MAX_UNAUTHENTICATED_CONNECTIONS, PREAUTH_MAX_BYTES } from '../../src/limits.js';
import { query } from '../../scripts/local-cluster.js';
import { MAX_SEALED_FRAME_BYTES } from '../../src/transport/channel.js';
import { encodeFrame } from '../../src/wire/codec.js';
import { Hello, PROTOCOL_VERSION } from '../../src/wire/messages.js';
import { COUNT_SQL, startFuzzCluster, type FuzzCluster } from '../support/fuzz-cluster.js';
import { hostileServer, type HostileReply } from '../support/hostile-server.js';
import { inBatchesWithin } from '../support/in-batches.js';
import { SeededRand, fuzzValue } from '../support/seeded-rand.js';
import { NodeWatch } from '../support/node-watch.js';
import { idleConnections, rawExchange, type Step } from '../support/raw-peer.js';
import { OP, closePayload, frame, readReply, switchingProtocols, upgradeRequest, type FrameSpec, type UpgradeSpec } from '../support/ws-frames.js';

const INPUTS = Number(process.env.CLEANROOM_FUZZ_PREAUTH ?? 1000);
/** The inputs start within this time: a busy or slower machine runs fewer (at least MIN_INPUTS); a set count runs in full. */
const BUDGET_MS = process.env.CLEANROOM_FUZZ_PREAUTH ? Number.POSITIVE_INFINITY : 45_000;
const MIN_INPUTS = 200;
const SEED = Number(process.env.CLEANROOM_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Below the cap on unauthenticated connections, so that every input reaches the code it is meant for. */
const PARALLEL = 32;
/** Past the node's own deadline for a connection that never authenticates. */
const BOUND_MS = HANDSHAKE_TIMEOUT_MS + 5_000;
const RSS_CEILING_MIB = 400;

interface Case {
  readonly steps: Step[];
  /** The node must not send a single WebSocket data frame (nothing of its own to an unauthenticated peer). */
  readonly silent: boolean;
  /** The input is meant to pass the HTTP upgrade and reach the WebSocket layer. */
  readonly upgraded: boolean;
}

interface Gen {
  readonly cls: 'tcp' | 'http' | 'frame' | 'oversize' | 'hello';
  readonly name: string;
  /** Inputs that only end at the node's deadline are costly: they come up rarely. */
  readonly rare?: boolean;
  readonly make: (r: SeededRand, ctx: Ctx) => Case;
}

interface Ctx {
  readonly host: string;
  readonly collaborationId: string;
  readonly hash: Uint8Array;
}

const P = 2n ** 255n - 19n;
const le32 = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse();
/** u-coordinates of points of small order (and their non-canonical aliases): the list libsodium refuses. */
const SMALL_ORDER = [0n, 1n, 325606250916557431795983626356110631294008115727848805560023387167927233504n, 39382357235489614581723060781553021112529911719440698176882885853963445705823n, P - 1n, P, P + 1n].map(le32);

const upgrade = (r: SeededRand, ctx: Ctx, spec: UpgradeSpec = {}): Buffer => upgradeRequest(ctx.host, { ...spec, headers: { 'Sec-WebSocket-Key': r.bytes(16).toString('base64'), ...spec.headers } });
const bin = (r: SeededRand, payload: Uint8Array, more: Partial<FrameSpec> = {}) => frame({ opcode: OP.binary, payload, mask: r.bytes(4), ...more });
const fin = { halfClose: true } as const;
/** Ends the input with a FIN or leaves it open for the node to end: both must end. */
const tail = (r: SeededRand): Step[] => (r.chance(0.5) ? [fin] : []);

function hello(r: SeededRand, ctx: Ctx, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'hello', version: PROTOCOL_VERSION, collaborationId: ctx.collaborationId, manifestHash: ctx.hash, manifestVersion: 1, member: 'alpha', ephemeral: x25519.getPublicKey(r.bytes(32)), ...over };
}

const helloFields = ['type', 'version', 'collaborationId', 'manifestHash', 'manifestVersion', 'member', 'ephemeral'];
const responded = { awaitResponse: true } as const;
/** A valid upgrade, then the given frames once the node has answered 101. */
const valid = (r: SeededRand, ctx: Ctx, steps: Buffer[], more: Partial<Case> = {}): Case => ({ steps: [upgrade(r, ctx), responded, ...steps, ...tail(r)], silent: true, upgraded: true, ...more });

const GENS: Gen[] = [
  // Raw TCP.
  { cls: 'tcp', name: 'random bytes', make: (r) => ({ steps: [r.bytes(r.between(1, 3000)), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'tcp', name: 'TLS ClientHello', make: (r) => ({ steps: [Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), r.bytes(r.between(10, 500))]), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'tcp', name: 'HTTP/2 preface', make: (r) => ({ steps: [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), r.bytes(r.int(100)), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'tcp', name: 'FIN at once', make: () => ({ steps: [fin], silent: true, upgraded: false }) },
  { cls: 'tcp', name: 'connect and say nothing', rare: true, make: () => ({ steps: [], silent: true, upgraded: false }) },
  // HTTP upgrade requests.
  { cls: 'http', name: 'plain GET', make: (r, c) => ({ steps: [upgrade(r, c, { headers: { Upgrade: undefined, Connection: undefined } }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'wrong method', make: (r, c) => ({ steps: [upgrade(r, c, { method: r.pick(['POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']) }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'CONNECT', make: (r, c) => ({ steps: [upgrade(r, c, { method: 'CONNECT', path: 'example.com:443' }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'missing key', make: (r, c) => ({ steps: [upgrade(r, c, { headers: { 'Sec-WebSocket-Key': undefined } }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'bad key', make: (r, c) => ({ steps: [upgrade(r, c, { headers: { 'Sec-WebSocket-Key': r.pick(['', 'abc', r.bytes(20).toString('base64'), r.bytes(8).toString('hex')]) } }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'wrong version', make: (r, c) => ({ steps: [upgrade(r, c, { headers: { 'Sec-WebSocket-Version': r.pick([undefined, '', '0', '12', '14', 'abc', '13, 8']) } }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'upgrade to something else', make: (r, c) => ({ steps: [upgrade(r, c, { headers: { Upgrade: r.pick(['h2c', 'foo', 'websocket2', '']) } }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'bad subprotocol list', make: (r, c) => ({ steps: [upgrade(r, c, { headers: { 'Sec-WebSocket-Protocol': r.pick([',,', 'a b', 'x,x', '\u00e9']) } }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'huge header', make: (r, c) => ({ steps: [upgrade(r, c, { headers: { 'X-Big': 'a'.repeat(r.between(9_000, 70_000)) } }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'many headers', make: (r, c) => ({ steps: [upgrade(r, c, { extraLines: Array.from({ length: r.between(1_000, 4_000) }, (_, i) => `X-H${i}: v`) }), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'long URL', make: (r, c) => ({ steps: [upgrade(r, c, { path: '/' + 'p'.repeat(r.between(9_000, 40_000)) }), ...tail(r)], silent: true, upgraded: false }) },
  {
    cls: 'http',
    name: 'malformed header line',
    make: (r, c) => ({
      steps: [upgrade(r, c, { extraLines: [r.pick(['X-No-Colon', 'X\u0000: y', ' folded: continuation', 'Bad\rHeader: x', 'Content-Length: -1', 'Content-Length: 5\r\nContent-Length: 6', 'Transfer-Encoding: chunked\r\nContent-Length: 3', 'Host: second'])] }), ...tail(r)],
      silent: true,
      upgraded: false,
    }),
  },
  { cls: 'http', name: 'bad request line', make: (r) => ({ steps: [Buffer.from(r.pick(['GET\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET  / HTTP/1.1\r\n\r\n', 'get / http/1.1\r\n\r\n', '/ GET HTTP/1.1\r\n\r\n'])), ...tail(r)], silent: true, upgraded: false }) },
  { cls: 'http', name: 'HTTP/1.0 upgrade', make: (r, c) => ({ steps: [upgrade(r, c, { httpVersion: 'HTTP/1.0' }), fin], silent: true, upgraded: false }) },
  { cls: 'http', name: 'request cut short, then FIN', make: (r, c) => ({ steps: [upgrade(r, c).subarray(0, r.between(1, 60)), fin], silent: true, upgraded: false }) },
  { cls: 'http', name: 'request cut short, then silence', rare: true, make: (r, c) => ({ steps: [upgrade(r, c).subarray(0, r.between(1, 60))], silent: true, upgraded: false }) },
  { cls: 'http', name: 'request dripped byte by byte', rare: true, make: (r, c) => ({ steps: [...upgrade(r, c).subarray(0, 40)].map((b) => [Buffer.of(b), { pause: 200 }]).flat(), silent: true, upgraded: false }) },
  {
    cls: 'http',
    name: 'upgrade with a body',
    make: (r, c) => {
      const body = r.bytes(r.between(1, 64 * 1024));
      return { steps: [upgrade(r, c, { headers: { 'Content-Length': String(body.length) } }), responded, body, ...tail(r)], silent: true, upgraded: true };
    },
  },
  // WebSocket frames after a valid upgrade.
  { cls: 'frame', name: 'unmasked client frame', make: (r, c) => valid(r, c, [frame({ opcode: OP.binary, payload: encodeFrame(hello(r, c)), mask: null })]) },
  { cls: 'frame', name: 'RSV bits set', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c)), { rsv: r.between(1, 7) })]) },
  { cls: 'frame', name: 'reserved opcode', make: (r, c) => valid(r, c, [frame({ opcode: r.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), payload: r.bytes(r.int(100)), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'invalid UTF-8 text', make: (r, c) => valid(r, c, [frame({ opcode: OP.text, payload: Buffer.from(r.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]])), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'text frame', make: (r, c) => valid(r, c, [frame({ opcode: OP.text, payload: Buffer.from(r.pick(['hello', '{"type":"hello"}', ''])), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'continuation without a start', make: (r, c) => valid(r, c, [frame({ opcode: OP.continuation, payload: r.bytes(r.int(50)), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'new message inside a fragmented one', make: (r, c) => valid(r, c, [bin(r, r.bytes(10), { fin: false }), bin(r, r.bytes(10))]) },
  { cls: 'frame', name: 'fragmented control frame', make: (r, c) => valid(r, c, [frame({ opcode: r.pick([OP.ping, OP.pong, OP.close]), payload: r.bytes(4), fin: false, mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'oversized ping', make: (r, c) => valid(r, c, [frame({ opcode: r.pick([OP.ping, OP.pong]), payload: r.bytes(r.between(126, 2000)), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'bad close code', make: (r, c) => valid(r, c, [frame({ opcode: OP.close, payload: closePayload(r.pick([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'close with a 1-byte body', make: (r, c) => valid(r, c, [frame({ opcode: OP.close, payload: r.bytes(1), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'close reason not UTF-8', make: (r, c) => valid(r, c, [frame({ opcode: OP.close, payload: closePayload(1000, Buffer.from([0xff, 0xfe])), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'valid close', make: (r, c) => valid(r, c, [frame({ opcode: OP.close, payload: closePayload(1000), mask: r.bytes(4) })]) },
  { cls: 'frame', name: 'random frame header', make: (r, c) => valid(r, c, [r.bytes(r.between(2, 14)), r.bytes(r.int(200))]) },
  { cls: 'frame', name: 'non-minimal length', make: (r, c) => valid(r, c, [Buffer.concat([Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 5]), r.bytes(4), r.bytes(5)])]) },
  {
    cls: 'frame',
    name: 'declared length above the limit',
    make: (r, c) => valid(r, c, [bin(r, r.bytes(r.int(1000)), { declaredLength: r.pick([BigInt(MAX_SEALED_FRAME_BYTES + 1), 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]) })]),
  },
  { cls: 'frame', name: 'frame cut short, then FIN', make: (r, c) => ({ steps: [upgrade(r, c), responded, bin(r, r.bytes(r.between(10, 100)), { declaredLength: BigInt(r.between(200, 3000)) }), fin], silent: true, upgraded: true }) },
  { cls: 'frame', name: 'frame cut short, then silence', rare: true, make: (r, c) => ({ steps: [upgrade(r, c), responded, bin(r, r.bytes(r.between(10, 100)), { declaredLength: BigInt(r.between(200, 3000)) })], silent: true, upgraded: true }) },
  { cls: 'frame', name: 'upgraded, then silence', rare: true, make: (r, c) => ({ steps: [upgrade(r, c)], silent: true, upgraded: true }) },
  { cls: 'frame', name: 'ping flood', make: (r, c) => valid(r, c, Array.from({ length: r.between(40, 300) }, () => frame({ opcode: OP.ping, payload: r.bytes(125), mask: r.bytes(4) }))) },
  { cls: 'frame', name: 'many tiny fragments', make: (r, c) => valid(r, c, [bin(r, r.bytes(1), { fin: false }), ...Array.from({ length: r.between(500, 3000) }, () => frame({ opcode: OP.continuation, payload: r.bytes(1), fin: false, mask: r.bytes(4) }))]) },
  // Frames larger than anything before authentication may be.
  {
    cls: 'oversize',
    name: 'frame that declares megabytes',
    make: (r, c) => valid(r, c, [bin(r, r.bytes(r.between(PREAUTH_MAX_BYTES, 64 * 1024)), { declaredLength: BigInt(r.between(1 << 20, MAX_SEALED_FRAME_BYTES)) })]),
  },
  { cls: 'oversize', name: 'whole large frame', make: (r, c) => valid(r, c, [bin(r, r.bytes(r.between(PREAUTH_MAX_BYTES + 1, 512 * 1024)))]) },
  { cls: 'oversize', name: 'padded hello', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c, { pad: 'x'.repeat(r.between(PREAUTH_MAX_BYTES, 20_000)) })))]) },
  // Bad hellos, in valid binary frames.
  { cls: 'hello', name: 'not msgpack', make: (r, c) => valid(r, c, [bin(r, r.bytes(r.between(0, 300)))]) },
  { cls: 'hello', name: 'msgpack but not a map', make: (r, c) => valid(r, c, [bin(r, encodeFrame(r.pick([0, 'hello', [1, 2], null, true, Buffer.from('x'), [hello(r, c)]])))]) },
  { cls: 'hello', name: 'msgpack extension types', make: (r, c) => valid(r, c, [bin(r, Buffer.concat([Buffer.from([r.pick([0xd4, 0xd5, 0xd6, 0xd7, 0xd8]), r.pick([0, 1, 0x72, 0x73, 0xff])]), r.bytes(16)]))]) },
  { cls: 'hello', name: 'deep nesting', make: (r, c) => valid(r, c, [bin(r, Buffer.concat([Buffer.alloc(r.between(100, 3000), r.pick([0x91, 0x81])), Buffer.from([0xc0, 0xc0])]))]) },
  {
    cls: 'hello',
    name: 'headers that declare millions of entries',
    make: (r, c) => {
      const declare = (type: number, n: number) => Buffer.from([type, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
      const bomb = r.pick([
        declare(0xdd, r.between(1e6, 3e7)),
        Buffer.concat([Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65]), declare(r.pick([0xdd, 0xdf]), r.between(1e6, 3e7))]),
        Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), Buffer.alloc(r.between(30, 1300) * 3, Buffer.from([0xdc, 0xff, 0xff]))]),
      ]);
      return valid(r, c, [bin(r, bomb)]);
    },
  },
  { cls: 'hello', name: 'duplicate keys', make: (r, c) => valid(r, c, [bin(r, Buffer.concat([Buffer.from([0x82]), encodeFrame('type'), encodeFrame('hello'), encodeFrame('type'), encodeFrame('auth')]))]) },
  {
    cls: 'hello',
    name: 'missing field',
    make: (r, c) => {
      const h = hello(r, c);
      delete h[r.pick(helloFields)];
      return valid(r, c, [bin(r, encodeFrame(h))]);
    },
  },
  { cls: 'hello', name: 'extra field', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c, { [r.pick(['extra', 'signature', '__proto__', 'role'])]: fuzzValue(r) })))]) },
  {
    cls: 'hello',
    name: 'wrong field type',
    make: (r, c) => {
      const m = hello(r, c, { [r.pick(helloFields)]: fuzzValue(r) });
      // A random value can be a right one ('alpha' as the member, 32 random bytes as the ephemeral key): then the
      // hello is valid and the node rightly answers it.
      return valid(r, c, [bin(r, encodeFrame(m))], { silent: !Hello.safeParse(m).success });
    },
  },
  { cls: 'hello', name: 'wrong version', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c, { version: r.pick([0, PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, 255, -1, String(PROTOCOL_VERSION)]) })))]) },
  { cls: 'hello', name: 'wrong collaboration', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c, { collaborationId: r.pick(['other', 'fuzz2', 'f', 'spring-campaign']) })))]) },
  { cls: 'hello', name: 'unknown member', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c, { member: r.pick(['gamma', 'stranger', 'alpha2', 'a']) })))]) },
  { cls: 'hello', name: "the node's own identity", make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c, { member: 'beta' })))]) },
  // SPEC §2: a hello naming another manifest is answered (hello and auth), so that a member on another version is told both.
  { cls: 'hello', name: 'wrong manifest hash', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c, { manifestHash: r.bytes(32) })))], { silent: false }) },
  { cls: 'hello', name: 'small-order ephemeral', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c, { ephemeral: r.pick(SMALL_ORDER) })))]) },
  { cls: 'hello', name: 'auth before hello', make: (r, c) => valid(r, c, [bin(r, encodeFrame({ type: 'auth', signature: r.bytes(64) }))]) },
  { cls: 'hello', name: 'session message in clear', make: (r, c) => valid(r, c, [bin(r, encodeFrame({ type: r.pick(['propose', 'join', 'points', 'abort', 'bye']), queryId: r.bytes(16).toString('hex'), querier: 'alpha', sql: 'SELECT 1' }))]) },
  // A hello that passes: the node answers with its own hello and auth (nothing the initiator did not send), then refuses.
  { cls: 'hello', name: 'second hello', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c))), bin(r, encodeFrame(hello(r, c)))], { silent: false }) },
  { cls: 'hello', name: 'forged signature', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c))), bin(r, encodeFrame({ type: 'auth', signature: r.bytes(64) }))], { silent: false }) },
  { cls: 'hello', name: 'auth of the wrong length', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c))), bin(r, encodeFrame({ type: 'auth', signature: r.bytes(r.pick([0, 32, 63, 65])) }))], { silent: false }) },
  { cls: 'hello', name: 'garbage after a hello', make: (r, c) => valid(r, c, [bin(r, encodeFrame(hello(r, c))), bin(r, r.bytes(r.between(1, 500)))], { silent: false }) },
  { cls: 'hello', name: 'hello, then silence', rare: true, make: (r, c) => ({ steps: [upgrade(r, c), responded, bin(r, encodeFrame(hello(r, c)))], silent: false, upgraded: true }) },
];

/** Every generator at least once, rare ones three times, the rest of the inputs spread over the common ones. */
function plan(r: SeededRand, n: number): Gen[] {
  const rare = GENS.filter((g) => g.rare);
  const common = GENS.filter((g) => !g.rare);
  const out: Gen[] = [...GENS, ...rare, ...rare];
  while (out.length < n) out.push(r.pick(common));
  return out;
}

/** What a hostile server at beta's endpoint answers alpha's node with, when alpha dials it for a query. */
const HOSTILE: Record<string, (r: SeededRand, key: string, ctx: Ctx) => HostileReply> = {
  'not HTTP': (r) => ({ bytes: [r.bytes(r.between(1, 2000))], then: 'close' }),
  'HTTP error': (r) => ({ bytes: [Buffer.from(`HTTP/1.1 ${r.pick([200, 400, 426, 500])} No\r\nContent-Length: 0\r\n\r\n`)], then: 'close' }),
  'wrong accept key': (r, key) => ({ bytes: [switchingProtocols(key, { 'Sec-WebSocket-Accept': r.bytes(20).toString('base64') })], then: 'close' }),
  'huge response headers': (r, key) => ({ bytes: [switchingProtocols(key, { 'X-Big': 'a'.repeat(r.between(20_000, 100_000)) })], then: 'close' }),
  '101, then close': (_r, key) => ({ bytes: [switchingProtocols(key)], then: 'close' }),
  '101, then RSV bits': (r, key, c) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: encodeFrame(hello(r, c, { member: 'beta' })), rsv: r.between(1, 7), mask: null })], then: 'stay' }),
  '101, then a reserved opcode': (r, key) => ({ bytes: [switchingProtocols(key), frame({ opcode: r.pick([3, 7, 0xb, 0xf]), payload: r.bytes(10), mask: null })], then: 'stay' }),
  '101, then a masked server frame': (r, key, c) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: encodeFrame(hello(r, c, { member: 'beta' })), mask: r.bytes(4) })], then: 'stay' }),
  '101, then invalid UTF-8 text': (r, key) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.text, payload: Buffer.from([0xc0, 0x80]), mask: null })], then: 'stay' }),
  '101, then a bad close code': (r, key) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.close, payload: closePayload(r.pick([999, 1005, 5000])), mask: null })], then: 'stay' }),
  '101, then a frame that declares megabytes': (r, key) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: r.bytes(64 * 1024), declaredLength: BigInt(MAX_SEALED_FRAME_BYTES - 1), mask: null })], then: 'stay' }),
  '101, then a whole large frame': (r, key) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: r.bytes(r.between(100_000, 1_000_000)), mask: null })], then: 'stay' }),
  '101, then a ping flood': (r, key) => ({ bytes: [switchingProtocols(key), ...Array.from({ length: 200 }, () => frame({ opcode: OP.ping, payload: r.bytes(125), mask: null }))], then: 'stay' }),
  '101, then not msgpack': (r, key) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: r.bytes(r.between(1, 300)), mask: null })], then: 'stay' }),
  '101, then a header bomb': (r, key) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), Buffer.alloc(3 * 1300, Buffer.from([0xdc, 0xff, 0xff]))]), mask: null })], then: 'stay' }),
  '101, then a hello of another manifest': (r, key, c) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: encodeFrame(hello(r, c, { member: 'beta', manifestHash: r.bytes(32) })), mask: null })], then: 'stay' }),
  '101, then a hello from a member not dialled': (r, key, c) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: encodeFrame(hello(r, c, { member: 'alpha' })), mask: null })], then: 'stay' }),
  '101, then a small-order hello': (r, key, c) => ({ bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: encodeFrame(hello(r, c, { member: 'beta', ephemeral: r.pick(SMALL_ORDER) })), mask: null })], then: 'stay' }),
  '101, then a forged auth': (r, key, c) => ({
    bytes: [switchingProtocols(key), frame({ opcode: OP.binary, payload: encodeFrame(hello(r, c, { member: 'beta' })), mask: null }), frame({ opcode: OP.binary, payload: encodeFrame({ type: 'auth', signature: r.bytes(64) }), mask: null })],
    then: 'stay',
  }),
  '101, then silence': (_r, key) => ({ bytes: [switchingProtocols(key)], then: 'stay' }),
};

describe('hostile input before authentication (live node process)', () => {
  let fc: FuzzCluster;

  beforeAll(async () => {
    fc = await startFuzzCluster('fuzz-preauth');
  });
  afterAll(async () => {
    await fc?.stop();
  });

  it(`up to ${INPUTS} malformed inputs, as many as start within the time budget: the node never exits, ends every connection, stays small, and answers correctly after`, async () => {
    console.log(`fuzz-preauth: seed ${SEED} (CLEANROOM_FUZZ_SEED=${SEED} reproduces the inputs), ${INPUTS} inputs`);
    const r = new SeededRand(SEED);
    const ctx: Ctx = { host: `127.0.0.1:${fc.port}`, collaborationId: fc.manifest.collaborationId, hash: fc.hash };
    const all = plan(r, INPUTS).map((g) => ({ g, c: g.make(r, ctx) }));
    const node = fc.cluster.nodes.beta!;
    const watch = new NodeWatch(node.process);
    const started = Date.now();
    const outcomes = await inBatchesWithin(all, PARALLEL, { ms: BUDGET_MS, minItems: MIN_INPUTS }, ({ c }) => rawExchange(fc.port, c.steps, BOUND_MS));
    const cases = all.slice(0, outcomes.length);
    watch.stop();
    const wall = Date.now() - started;

    const stats = new Map<string, { inputs: number; hangs: number; maxMs: number }>();
    const problems: string[] = [];
    cases.forEach(({ g, c }, i) => {
      const o = outcomes[i]!;
      const key = `${g.cls}: ${g.name}`;
      const s = stats.get(key) ?? { inputs: 0, hangs: 0, maxMs: 0 };
      stats.set(key, { inputs: s.inputs + 1, hangs: s.hangs + (o.endedBy === 'bound' ? 1 : 0), maxMs: Math.max(s.maxMs, o.ms) });
      const reply = readReply(o.received);
      if (o.endedBy === 'bound') problems.push(`input ${i} (${key}) was still open after ${BOUND_MS} ms`);
      if (c.upgraded && reply.status !== 101) problems.push(`input ${i} (${key}) never reached the WebSocket layer (HTTP ${reply.status})`);
      if (c.silent && reply.opcodes.some((op) => op === OP.binary || op === OP.text)) problems.push(`input ${i} (${key}): the node sent a data frame to an unauthenticated peer`);
      if (!c.silent && reply.opcodes.filter((op) => op === OP.binary).length > 2) problems.push(`input ${i} (${key}): the node sent more than its hello and auth`);
    });
    const perClass = new Map<string, number>();
    for (const { g } of cases) perClass.set(g.cls, (perClass.get(g.cls) ?? 0) + 1);
    console.log(
      [
        `fuzz-preauth: ${cases.length} of ${INPUTS} inputs in ${wall} ms, ${[...stats.values()].reduce((a, s) => a + s.hangs, 0)} hangs, node ${watch.exit ?? 'alive'}, max RSS ${watch.maxRssMiB.toFixed(0)} MiB`,
        `  per class: ${[...perClass].map(([k, v]) => `${k} ${v}`).join(', ')}`,
        ...[...stats].map(([k, s]) => `  ${k}: ${s.inputs} inputs, ${s.hangs} hangs, slowest end ${s.maxMs} ms`),
      ].join('\n'),
    );

    expect(watch.exit, 'the node process exited').toBeUndefined();
    expect(problems.slice(0, 20)).toEqual([]);
    expect(watch.maxRssMiB).toBeLessThan(RSS_CEILING_MIB);
    // Every error stayed in its connection's handlers: the CLI's last-resort guard never had to catch one.
    expect(node.log.join('')).not.toContain('internal error');
    expect(node.log.join('')).toMatch(/peer connection from 127\.0\.0\.1:\d+ refused: .*hung up on learning our manifest: this node runs manifest v1, the peer alpha v1 too, but another one/);
    await fc.expectCorrectAnswers();
  });

  it("the dialling side: a hostile server at a member's endpoint fails each query and nothing else", async () => {
    const r = new SeededRand(SEED);
    const ctx: Ctx = { host: `127.0.0.1:${fc.port}`, collaborationId: fc.manifest.collaborationId, hash: fc.hash };
    const alpha = fc.cluster.nodes.alpha!;
    const names = Object.keys(HOSTILE);
    const silence = '101, then silence';
    let current = silence;
    const replied: string[] = [];
    await fc.stopTarget();
    const server = await hostileServer(fc.port, (key) => {
      replied.push(current);
      return HOSTILE[current]!(r, key, ctx);
    });
    const watch = new NodeWatch(alpha.process);
    const answers: string[] = [];
    const ask = async (name: string) => {
      const answer = await query(fc.cluster.nodeDirs.alpha!, COUNT_SQL);
      answers.push(`${name}: ${answer.kind === 'error' ? `${answer.code}: ${answer.message}` : answer.kind}`);
      expect(answer, name).toMatchObject({ kind: 'error' });
    };
    try {
      // The silent one runs out its deadline meanwhile; the others one at a time, each meeting the reply it is about.
      const silent = ask(silence);
      while (replied.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      for (const name of names.filter((n) => n !== silence)) {
        current = name;
        await ask(name);
      }
      await silent;
    } finally {
      watch.stop();
      await server.close();
      await fc.startTarget();
    }
    console.log(`fuzz-preauth, dialling side: ${names.length} hostile replies, alpha ${watch.exit ?? 'alive'}, max RSS ${watch.maxRssMiB.toFixed(0)} MiB\n  ${answers.join('\n  ')}`);
    expect(replied.sort()).toEqual([...names].sort());
    expect(watch.exit, 'the dialling node exited').toBeUndefined();
    expect(watch.maxRssMiB).toBeLessThan(RSS_CEILING_MIB);
    expect(alpha.log.join('')).not.toContain('internal error');
    expect(answers.find((a) => a.startsWith('101, then a hello of another manifest'))).toMatch(/TIMEOUT: the peer did not authenticate within/);
    // (A hello of another manifest is followed by the responder's auth, SPEC §2: one that never sends it is waited for, within the handshake deadline.)
    expect(answers.find((a) => a.startsWith('101, then close'))).toContain("beta closed the connection during the handshake: it refused our hello");
    await fc.expectCorrectAnswers();
  });

  it(`MAX_UNAUTHENTICATED_CONNECTIONS + 50 idle connections: the oldest are closed to make room, and members still get in while they are held`, async () => {
    const node = fc.cluster.nodes.beta!;
    const logFrom = node.log.join('').length;
    const idle = await idleConnections(fc.port, MAX_UNAUTHENTICATED_CONNECTIONS + 50);
    // The node closes the oldest as new ones come; give it a moment to get through them.
    for (let i = 0; i < 100 && idle.closedByNode() < 50; i++) await new Promise((r) => setTimeout(r, 50));
    const closed = idle.closedByNode();
    expect(closed).toBeGreaterThanOrEqual(50);
    expect(closed).toBeLessThan(MAX_UNAUTHENTICATED_CONNECTIONS + 50);
    expect(node.log.join('').slice(logFrom)).toContain(`${MAX_UNAUTHENTICATED_CONNECTIONS} connections are not authenticated yet; closing the oldest`);
    // The cap is no lockout switch: with the idle ones still open, a member's connections get in.
    await fc.expectCorrectAnswers();
    for (const s of idle.sockets) s.destroy();
    for (let i = 0; i < 100 && !node.log.join('').slice(logFrom).includes('below the cap'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(node.log.join('').slice(logFrom)).toMatch(/below the cap of unauthenticated connections again; \d+ old one\(s\) closed to make room meanwhile/);
    expect(fc.cluster.nodes.beta!.process.exitCode).toBeNull();
  });
});
