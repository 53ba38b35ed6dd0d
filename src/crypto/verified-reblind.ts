import { ProtocolViolation } from '../errors.js';
import { ORDER, bytesScalar, type EdwardsGroup } from './edwards.js';
import { edwardsToU, liftToEdwards } from './edwards-lift.js';
import { PROOF_BYTES, generateProof, verifyProof } from './dleq.js';
import { POINT_BYTES } from './group.js';
import { assertPoints } from './point.js';
import type { QuerySecret } from './secret.js';

/**
 * SPEC §4.2.1, verified re-blinding: the partner Q returns each of the aggregator P's points raised to its secret as
 * an edwards25519 point, with one RFC 9497 proof per batch (dleq.ts) that every one of them is its secret times P's
 * point at the same position. X25519's u-coordinate of k·P is the u-coordinate of the edwards point k·P, so what P
 * matches is unchanged.
 */

/**
 * The edwards25519 scalar of an X25519 secret: clamped as RFC 7748 §5 clamps it, reduced mod L. For P in the
 * prime-order subgroup, k·P has the u-coordinate X25519(secret, u(P)). Its bytes are wiped; the bigint cannot be, and
 * lives until collected, as the scalars inside @noble/curves do.
 */
function edwardsScalar(secret: QuerySecret): bigint {
  const k = Uint8Array.from(secret.bytes());
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  const s = bytesScalar(k) % ORDER;
  k.fill(0);
  return s;
}

/** B = k·G: what Q commits to before it returns anything, one per secret (SPEC §4.2.1, `reblind-key`). */
export function reblindKey(g: EdwardsGroup, secret: QuerySecret): Uint8Array {
  return g.multiplyBase(edwardsScalar(secret));
}

/**
 * RFC 9497's contextString for one returned batch: it names the collaboration, the query, the part of Q's set (SPEC
 * §4.6; 0 without parts) and the returned batch's number, so that a proof verifies for that batch only. Every field is
 * length-prefixed, so that no two contexts spell the same bytes.
 */
export function reblindContext(collaborationId: string, queryId: string, part: number, batch: number): Uint8Array {
  const fields = ['CLEANROOM-REBLIND-V1', collaborationId, queryId, String(part), String(batch)].map((f) => new TextEncoder().encode(f));
  const out = new Uint8Array(fields.reduce((n, f) => n + 2 + f.length, 0));
  let off = 0;
  for (const f of fields) {
    out[off] = f.length >> 8;
    out[off + 1] = f.length & 0xff;
    out.set(f, off + 2);
    off += 2 + f.length;
  }
  return out;
}

function split(points: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < points.length; off += POINT_BYTES) out.push(points.subarray(off, off + POINT_BYTES));
  return out;
}

/**
 * Q's side, one batch: `points` (P's u-coordinates) lifted to edwards25519 (edwards-lift.ts), each raised to k, and
 * the proof. Returns the raised points, compressed, then the proof (PROOF_BYTES). A point of P's that is not in the
 * prime-order subgroup is `invalid-point`.
 */
export function proveReblind(g: EdwardsGroup, secret: QuerySecret, points: Uint8Array, context: Uint8Array, nonce?: bigint): Uint8Array {
  assertPoints(points, 'verified re-blinding');
  const k = edwardsScalar(secret);
  const C = split(liftToEdwards(points));
  const D = C.map((c) => g.multiply(k, c));
  const proof = generateProof(g, k, g.multiplyBase(k), C, D, context, nonce);
  const out = new Uint8Array(D.length * POINT_BYTES + PROOF_BYTES);
  D.forEach((d, i) => out.set(d, i * POINT_BYTES));
  out.set(proof, D.length * POINT_BYTES);
  return out;
}

/** What the aggregator checks of one returned batch (`checkReblind`). */
export interface ReblindCheck {
  /** The u-coordinates it sent, in order. */
  readonly sent: Uint8Array;
  /** The partner's points, compressed edwards25519, in the same order. */
  readonly returned: Uint8Array;
  readonly proof: Uint8Array;
  /** The partner's B for the part this batch answers. */
  readonly key: Uint8Array;
  /** reblindContext of the batch. */
  readonly context: Uint8Array;
}

/**
 * P's side, one batch, before anything of it is matched: `sent` are the u-coordinates P sent, `returned` Q's points
 * (compressed edwards25519), `key` Q's B. Every returned point must be a valid element (canonical, not of small
 * order, in the prime-order subgroup: `invalid-point`) and the proof must verify (`bad-proof`). Returns the
 * u-coordinates of the returned points, which P matches.
 */
export function checkReblind(g: EdwardsGroup, { sent, returned, proof, key, context }: ReblindCheck): Uint8Array {
  if (returned.length !== sent.length) throw new ProtocolViolation('bad-count', `${returned.length / POINT_BYTES} points returned for a batch of ${sent.length / POINT_BYTES}`);
  // The composite over the returned points refuses any of them that is not an element (`invalid-point`): with
  // libsodium that check comes with each multiplication, so it is not paid twice.
  if (!verifyProof(g, key, split(liftToEdwards(sent)), split(returned), proof, context)) {
    throw new ProtocolViolation('bad-proof', 'the proof of the returned batch does not verify: a point is not the partner\'s secret times the point sent at its position');
  }
  return edwardsToU(returned);
}
