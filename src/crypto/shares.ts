import { randomFillSync } from 'node:crypto';
import { ProtocolViolation } from '../errors.js';

/**
 * Additive secret sharing over the ring Z_(2^128) (SPEC §4.3). Signed values are held in two's
 * complement: v and v + 2^128 are the same ring element, and reconstruct() maps the sum back to
 * [-2^127, 2^127).
 *
 * Why 2^128 and why the bound: a share sum is only ever known mod 2^128, so a total outside
 * ±MAX_ABS_VALUE would come back as a different, plausible number with nothing to show it wrapped
 * (JIFF's default 2^24-ish modulus did exactly that to dollar totals). The ring therefore holds
 * every |value| <= 2^127 - 1, and before any sharing the query's declared bounds are checked with
 * assertSumCannotWrap(max |value| per row, max rows summed, ...): if that product fits, every
 * partial and total sum fits, and the ring can never wrap silently. 128 bits leaves room for, say,
 * 10^9 rows of amounts up to 10^25 in the smallest fixed-point unit. Additive sharing needs no
 * multiplication, so a power-of-two ring (reduction is a mask) serves as well as a prime field.
 */
export const RING_BITS = 128;
export const MAX_ABS_VALUE = 2n ** 127n - 1n;
export const RING_ELEMENT_BYTES = RING_BITS / 8;
const RING_SIZE = 1n << 128n;

function assertRingElement(x: bigint, label: string): void {
  if (typeof x !== 'bigint' || x < 0n || x >= RING_SIZE) {
    throw new RangeError(`${label}: ring elements are bigints in [0, 2^${RING_BITS})`);
  }
}

function readElement(view: DataView, offset: number): bigint {
  return view.getBigUint64(offset, true) | (view.getBigUint64(offset + 8, true) << 64n);
}

/** `parties` shares of `value`, each uniform in [0, 2^128) on its own, summing to value mod 2^128. */
export function share(value: bigint, parties: number): bigint[] {
  if (typeof value !== 'bigint' || value > MAX_ABS_VALUE || value < -MAX_ABS_VALUE) {
    throw new RangeError(`share: value must be a bigint within ±(2^127 - 1)`);
  }
  if (!Number.isSafeInteger(parties) || parties < 1) {
    throw new RangeError(`share: parties must be a positive integer, got ${parties}`);
  }
  const random = randomFillSync(new Uint8Array((parties - 1) * RING_ELEMENT_BYTES));
  const view = new DataView(random.buffer);
  const shares = new Array<bigint>(parties);
  let rest = value;
  for (let i = 0; i < parties - 1; i++) {
    const s = readElement(view, i * RING_ELEMENT_BYTES);
    shares[i] = s;
    rest -= s;
  }
  shares[parties - 1] = BigInt.asUintN(RING_BITS, rest);
  return shares;
}

/** The signed value whose shares these are: their sum mod 2^128, read as two's complement. */
export function reconstruct(shares: readonly bigint[]): bigint {
  if (!Array.isArray(shares) || shares.length === 0) throw new RangeError('reconstruct: expected at least one share');
  let sum = 0n;
  for (let i = 0; i < shares.length; i++) {
    assertRingElement(shares[i]!, `reconstruct: share ${i}`);
    sum += shares[i]!;
  }
  return BigInt.asIntN(RING_BITS, sum);
}

/** Element-wise a + b mod 2^128: a share holder's local step when adding the shares it holds. */
export function addShares(a: readonly bigint[], b: readonly bigint[]): bigint[] {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) {
    throw new RangeError('addShares: expected two arrays of the same length');
  }
  return a.map((x, i) => {
    assertRingElement(x, `addShares: a[${i}]`);
    assertRingElement(b[i]!, `addShares: b[${i}]`);
    return BigInt.asUintN(RING_BITS, x + b[i]!);
  });
}

/** RING_ELEMENT_BYTES little-endian bytes per element, in order. */
export function encodeRingElements(values: readonly bigint[]): Uint8Array {
  if (!Array.isArray(values)) throw new TypeError('encodeRingElements: expected an array of bigints');
  const out = new Uint8Array(values.length * RING_ELEMENT_BYTES);
  const view = new DataView(out.buffer);
  values.forEach((x, i) => {
    assertRingElement(x, `encodeRingElements: element ${i}`);
    view.setBigUint64(i * RING_ELEMENT_BYTES, BigInt.asUintN(64, x), true);
    view.setBigUint64(i * RING_ELEMENT_BYTES + 8, x >> 64n, true);
  });
  return out;
}

/** Inverse of encodeRingElements, for bytes from a peer: a ragged length is the peer's fault. */
export function decodeRingElements(bytes: Uint8Array): bigint[] {
  if (!(bytes instanceof Uint8Array) || bytes.length % RING_ELEMENT_BYTES !== 0) {
    throw new ProtocolViolation('bad-length', `ring elements: ${bytes?.length} bytes is not a multiple of ${RING_ELEMENT_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Array<bigint>(bytes.length / RING_ELEMENT_BYTES);
  for (let i = 0; i < values.length; i++) values[i] = readElement(view, i * RING_ELEMENT_BYTES);
  return values;
}

/**
 * The declared-bounds check that makes the ring safe: whether a sum of at most `maxTerms` values, each of absolute
 * value at most `maxAbsValue` (both non-negative), could leave ±MAX_ABS_VALUE and wrap the ring. The manifest refuses
 * any column for which it could (SPEC §1), with MAX_TABLE_ROWS terms.
 */
export function sumCouldWrap(maxAbsValue: bigint, maxTerms: bigint): boolean {
  if (maxAbsValue < 0n || maxTerms < 0n) throw new RangeError('a value bound and a term count are non-negative');
  return maxAbsValue * maxTerms > MAX_ABS_VALUE;
}
