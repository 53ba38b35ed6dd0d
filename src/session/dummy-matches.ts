
import type { PsiGroup } from '../crypto/group.js';
import { QuerySecret } from '../crypto/secret.js';
import { freshPoint } from '../crypto/worker-task.js';
import { sampleNoise } from '../dp/mechanism.js';
import type { RandomSource } from '../dp/random-source.js';
import type { DummyPlan } from '../query/noise.js';

/**
 * How many points to add, dummy matches (SPEC §10.3) or padding (§10.2): clamp(shift + X, 0, 2·shift), X the plan's
 * noise (discrete Laplace or Gaussian); an integer, never a float.
 */
export function addedCount(plan: DummyPlan, random: RandomSource): number {
  const d = plan.shift + sampleNoise(plan.mechanism, random);
  return Number(d < 0n ? 0n : d > 2n * plan.shift ? 2n * plan.shift : d);
}

/**
 * The points the partner adds to each of its streams, always: D dummy matches and 2·shift − D fillers that match
 * nothing, so that the number of points tells the aggregator nothing about D.
 */
export function dummySlots(plan: DummyPlan): number {
  return Number(2n * plan.shift);
}

/** `n` points X25519(r, 9), each r fresh and wiped at once: the fillers, which match nothing. */
function randomPoints(group: PsiGroup, n: number): Uint8Array {
  const out = new Uint8Array(n * group.pointBytes);
  for (let i = 0; i < n; i++) out.set(freshPoint(group), i * group.pointBytes);
  return out;
}

/** A = X25519(a, 9): the aggregator's per-query secret applied to the base point, published for the dummies. */
export function dummyBase(group: PsiGroup, secret: QuerySecret): Uint8Array {
  return group.blind(secret, group.basePoint);
}

/**
 * The partner's dummy matches in a count-only DP query (SPEC §10.3). For each of `slots` points it draws a fresh r
 * and puts X25519(r, 9) into its own set. For the first `count` (the dummies) it later returns X25519(r, A) among the
 * points it raised: the aggregator's blinding of X25519(r, 9) is X25519(a, X25519(r, 9)) = X25519(r, A), so each
 * counts as a match. For the others (fillers) it returns X25519(f, 9) for another fresh f, which matches nothing.
 * Every slot costs the same two multiplications, so neither the streams' lengths nor the time tell D; under DDH
 * every point looks like any other blinded key to the aggregator.
 */
export class DummyMatches {
  private secrets: QuerySecret[];
  /** X25519(r, 9) for every slot: part of the partner's own blinded set. */
  readonly points: Uint8Array;

  constructor(
    private readonly group: PsiGroup,
    private readonly count: number,
    slots: number,
  ) {
    if (!Number.isSafeInteger(count) || count < 0 || count > slots) throw new RangeError(`DummyMatches: 0 <= count <= slots, got ${count} of ${slots}`);
    this.secrets = Array.from({ length: slots }, () => QuerySecret.generate());
    this.points = this.raise(this.secrets, group.basePoint);
  }

  /** X25519(r, A) for the dummies, X25519(f, 9) for a fresh f for the fillers; then every r is wiped: one-time secrets. */
  answer(base: Uint8Array): Uint8Array {
    const out = new Uint8Array(this.secrets.length * this.group.pointBytes);
    out.set(this.raise(this.secrets.slice(0, this.count), base));
    out.set(randomPoints(this.group, this.secrets.length - this.count), this.count * this.group.pointBytes);
    this.zero();
    return out;
  }

  zero(): void {
    for (const s of this.secrets) s.zero();
    this.secrets = [];
  }

  private raise(secrets: readonly QuerySecret[], point: Uint8Array): Uint8Array {
    const out = new Uint8Array(secrets.length * this.group.pointBytes);
    secrets.forEach((s, i) => out.set(this.group.blind(s, point), i * this.group.pointBytes));
    return out;
  }
}
