
import type { PsiGroup } from '../crypto/group.js';
import { QuerySecret } from '../crypto/secret.js';
import { freshPoint } from '../crypto/worker-task.js';
import { sampleNoise } from '../dp/mechanism.js';
import type { RandomSource } from '../dp/random-source.js';
import type { DummyPlan } from '../query/noise.js';
import { randomSubset } from './point-stream.js';

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
 * and puts X25519(r, 9) into its own set. For `count` of them (the dummies), drawn at random among the slots, it later
 * returns X25519(r, A) among the points it raised: the aggregator's blinding of X25519(r, 9) is
 * X25519(a, X25519(r, 9)) = X25519(r, A), so each counts as a match. For the others (fillers) it returns X25519(f, 9)
 * for another fresh f, which matches nothing. Every slot costs the same two multiplications, so neither the streams'
 * lengths nor the time tell D; under DDH every point looks like any other blinded key to the aggregator. The dummies
 * are drawn among the slots because the slots go out in order (`points`): the first `count` of them would crowd the
 * aggregator's matches towards where the first slots fall, and where its matches fall would tell it D.
 */
export class DummyMatches {
  private secrets: QuerySecret[];
  /** Whether each slot is a dummy, `count` of them drawn uniformly. */
  private readonly dummy: Uint8Array;
  /** X25519(r, 9) for every slot: part of the partner's own blinded set, in slot order. */
  readonly points: Uint8Array;

  constructor(
    private readonly group: PsiGroup,
    count: number,
    slots: number,
    random: RandomSource,
  ) {
    if (!Number.isSafeInteger(count) || count < 0 || count > slots) throw new RangeError(`DummyMatches: 0 <= count <= slots, got ${count} of ${slots}`);
    this.secrets = Array.from({ length: slots }, () => QuerySecret.generate());
    this.dummy = new Uint8Array(slots);
    for (const i of randomSubset(slots, count, random)) this.dummy[i] = 1;
    this.points = this.raise(this.secrets, group.basePoint);
  }

  /**
   * X25519(r, A) for the dummies, X25519(f, 9) for a fresh f for the fillers, in slot order (count-only returns them
   * shuffled); then every r is wiped: one-time secrets.
   */
  answer(base: Uint8Array): Uint8Array {
    const width = this.group.pointBytes;
    const out = new Uint8Array(this.secrets.length * width);
    this.secrets.forEach((s, i) => out.set(this.dummy[i] ? this.group.blind(s, base) : randomPoints(this.group, 1), i * width));
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
