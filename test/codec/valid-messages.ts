/**
 * One valid message of every type, typed by the wire schemas: a message type added to a union without a sample here
 * does not compile, so the round-trips and the fuzzing of arbitrary-bytes.test.ts cover every type there is.
 */
import type { HandshakeMessage, WireMessage } from '../../src/wire/messages.js';
import { PROTOCOL_VERSION } from '../../src/wire/messages.js';

type OnePerType<M extends { type: string }> = { [T in M['type']]: Extract<M, { type: T }> };

const QUERY = 'ab'.repeat(16);
export const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7);

export const HANDSHAKE: OnePerType<HandshakeMessage> = {
  hello: { type: 'hello', version: PROTOCOL_VERSION, collaborationId: 'acme-retail', manifestHash: bytes(32), manifestVersion: 3, member: 'alpha', ephemeral: bytes(32) },
  auth: { type: 'auth', signature: bytes(64) },
};

export const SESSION: OnePerType<WireMessage> = {
  bye: { type: 'bye' },
  propose: { type: 'propose', queryId: QUERY, querier: 'alpha', sql: 'SELECT COUNT(*) FROM a JOIN b ON a.k = b.k' },
  accept: { type: 'accept', queryId: QUERY },
  join: { type: 'join', queryId: QUERY },
  reject: { type: 'reject', queryId: QUERY, code: 'RULE_VIOLATION', message: 'GROUP BY region is not allowed' },
  abort: { type: 'abort', queryId: QUERY, code: 'TIMEOUT', message: 'no message for 120000 ms' },
  keepalive: { type: 'keepalive', queryId: QUERY },
  points: { type: 'points', queryId: QUERY, stage: 'p', seq: 0, points: bytes(32) },
  'points-end': { type: 'points-end', queryId: QUERY, stage: 'pq', batches: 3, count: 9000 },
  'dummy-base': { type: 'dummy-base', queryId: QUERY, point: bytes(32) },
  'reblind-key': { type: 'reblind-key', queryId: QUERY, keys: [bytes(32)] },
  ring: { type: 'ring', queryId: QUERY, set: 'beta', stage: 'hop', seq: 0, points: bytes(32) },
  'ring-end': { type: 'ring-end', queryId: QUERY, set: '*', stage: 'final', batches: 2, count: 5000 },
  shares: { type: 'shares', queryId: QUERY, groups: 3, width: 4, values: bytes(3 * 4 * 16) },
  open: { type: 'open', queryId: QUERY, stage: 'counts', values: bytes(3 * 16) },
  labels: { type: 'labels', queryId: QUERY, labels: [['north', 2024, null], ['south', -1.5, 'é']] },
};
