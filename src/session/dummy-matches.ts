import type { GroupBackend } from '../crypto/group.js';
import { QuerySecret } from '../crypto/secret.js';
import { sampleDiscreteLaplace } from '../dp/discrete-laplace.js';
import type { RandomSource } from '../dp/random-source.js';
import type { DummyPlan } from '../query/noise.js';

/** The X25519 base point, u = 9 (RFC 7748 §4.1). */
const BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));

/** How many dummy matches to add (SPEC §10.3): clamp(shift + L, 0, 2·shift), L discrete Laplace; an integer, never a float. */
export function dummyCount(plan: DummyPlan, random: RandomSource): number {
  const d = plan.shift + sampleDiscreteLaplace(plan.scale, random);
  return Number(d < 0n ? 0n : d > 2n * plan.shift ? 2n * plan.shift : d);
}

/** The most dummy matches a partner can add: what the aggregator accepts beyond the points it sent. */
export function maxDummies(plan: DummyPlan): number {
  return Number(2n * plan.shift);
}

/** A = X25519(a, 9): the aggregator's per-query secret applied to the base point, published for the dummies. */
export function dummyBase(group: GroupBackend, secret: QuerySecret): Uint8Array {
  return group.blind(secret, BASE_POINT);
}

/**
 * The partner's dummy matches in a count-only DP query (SPEC §10.3). For each dummy it draws a fresh r, puts
 * X25519(r, 9) into its own set, and later returns X25519(r, A) among the points it raised: the aggregator's
 * blinding of X25519(r, 9) is X25519(a, X25519(r, 9)) = X25519(r, A), so every dummy counts as one more match.
 * Under DDH the dummies' points look like any other blinded key to the aggregator.
 */
export class DummyMatches {
  private secrets: QuerySecret[];
  /** X25519(r, 9) for every dummy: part of the partner's own blinded set. */
  readonly points: Uint8Array;

  constructor(
    private readonly group: GroupBackend,
    count: number,
  ) {
    this.secrets = Array.from({ length: count }, () => QuerySecret.generate());
    this.points = this.raise(BASE_POINT);
  }

  get count(): number {
    return this.secrets.length;
  }

  /** X25519(r, A) for every dummy, then every r is wiped: they are one-time secrets. */
  answer(base: Uint8Array): Uint8Array {
    const out = this.raise(base);
    this.zero();
    return out;
  }

  zero(): void {
    for (const s of this.secrets) s.zero();
    this.secrets = [];
  }

  private raise(point: Uint8Array): Uint8Array {
    const out = new Uint8Array(this.secrets.length * 32);
    this.secrets.forEach((s, i) => out.set(this.group.blind(s, point), i * 32));
    return out;
  }
}
