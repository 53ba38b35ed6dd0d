/**
 * The interval of a count that was released because its own noisy value reached the release threshold (SPEC §10.2):
 * v = c + S for the true count c and symmetric integer noise S, opened only when v >= T. Given that it was released,
 * v is biased upwards near T, so `v ± w` would miss the truth far more often than it says (a group of 25 released
 * at T = 31 is always outside ±4). Instead the interval inverts the test of the law of c + S given c + S >= T:
 * c belongs when v lies in neither miss/2 tail of that conditional law (Fithian, Sun and Taylor 2014, "Optimal
 * inference after model selection", §5, for one selection event). Then, whatever c is, the interval holds c with
 * probability at least 1 - miss among the queries in which the group is released. Far above T the condition is void
 * and the interval is `v ± w`; just above it, the lower end reaches the least count the group could have.
 *
 * The sums of discrete Laplace and of discrete Gaussian draws are log-concave, so the conditional laws increase
 * stochastically with c and each side of the interval is found by bisection. Floating point sizes a report here,
 * never noise; a tail divided by may be overstated by the relative `slack` its law states, and is discounted by it.
 */

/** log P(S >= q) for every integer q; `slack`: the most by which a computed tail may exceed the true one, relative. */
export interface NoiseTail {
  readonly logTail: (q: number) => number;
  readonly slack: number;
}

/**
 * [lo, hi] for the true count c, integers with lo >= `floor` (a count is never below 0), given v >= threshold was
 * released. The computed conditional tails are taken as (1 + 1e-9) of their value in the safe direction.
 */
export function selectedInterval(noise: NoiseTail, threshold: number, v: number, miss: number, floor = 0): [number, number] {
  if (!Number.isSafeInteger(threshold) || !Number.isSafeInteger(v) || v < threshold) {
    throw new RangeError(`selectedInterval: a released value at or above the threshold, got ${v} for ${threshold}`);
  }
  if (!(miss > 0 && miss < 1)) throw new RangeError(`selectedInterval: miss must be in (0, 1), got ${miss}`);
  const { logTail } = noise;
  const target = Math.log(miss / 2) - 1e-9;
  // log P(c + S >= T), discounted by the slack so that the ratios below are never overstated.
  const logSelected = (c: number) => logTail(threshold - c) - Math.log1p(noise.slack);
  // log P(c + S >= v | released): grows with c. c is too small when v is in its upper miss/2 tail.
  const upper = (c: number) => logTail(v - c) - logSelected(c);
  // log P(c + S <= v | released) = log(1 - P(c + S >= v + 1 | released)): falls with c.
  const lower = (c: number) => Math.log(Math.max(0, -Math.expm1(Math.min(0, logTail(v + 1 - c) - logSelected(c)))));
  // c = v always belongs: each conditional tail at v is at least P(S >= 0) or P(S <= 0), half or more.
  let lo = floor;
  if (upper(floor) < target) {
    let ok = v;
    let bad = floor;
    while (ok - bad > 1) {
      const mid = bad + Math.floor((ok - bad) / 2);
      if (upper(mid) >= target) ok = mid;
      else bad = mid;
    }
    lo = ok;
  }
  let step = 1;
  while (lower(v + step) >= target) step *= 2;
  let ok = v + Math.floor(step / 2);
  let bad = v + step;
  while (bad - ok > 1) {
    const mid = ok + Math.floor((bad - ok) / 2);
    if (lower(mid) >= target) ok = mid;
    else bad = mid;
  }
  return [Math.max(floor, Math.min(lo, v)), ok];
}
