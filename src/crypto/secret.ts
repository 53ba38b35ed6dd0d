import { randomFillSync } from 'node:crypto';
import { CleanroomError } from '../errors.js';

export const SECRET_BYTES = 32;

/**
 * A per-query X25519 scalar (SPEC §3). It lives in this object only: never serialised, never
 * logged, and wiped by zero() when the query ends, so that a later heap dump cannot link runs.
 * The bytes are kept unclamped; both backends clamp as RFC 7748 §5 requires.
 */
export class QuerySecret {
  readonly #bytes: Uint8Array;
  #zeroed = false;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** A fresh scalar from the operating system's CSPRNG. */
  static generate(): QuerySecret {
    return new QuerySecret(randomFillSync(new Uint8Array(SECRET_BYTES)));
  }

  /** A fixed scalar, for test vectors and benchmarks; the input is copied, so the caller may wipe it. */
  static fromBytes(bytes: Uint8Array): QuerySecret {
    if (!(bytes instanceof Uint8Array) || bytes.length !== SECRET_BYTES) {
      throw new RangeError(`QuerySecret.fromBytes: expected ${SECRET_BYTES} bytes`);
    }
    return new QuerySecret(Uint8Array.from(bytes));
  }

  get isZeroed(): boolean {
    return this.#zeroed;
  }

  /**
   * The scalar itself, not a copy: a copy would be one more buffer nobody wipes. Callers pass it
   * straight to the scalar multiplication and do not keep it.
   */
  bytes(): Uint8Array {
    if (this.#zeroed) throw new CleanroomError('INTERNAL', 'query secret used after it was zeroed');
    return this.#bytes;
  }

  zero(): void {
    this.#bytes.fill(0);
    this.#zeroed = true;
  }
}
