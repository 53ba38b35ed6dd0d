import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/crypto/backend.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { osRandom, seededRandom } from '../../src/dp/random-source.js';
import { DummyMatches, dummyBase } from '../../src/session/dummy-matches.js';

const group = selectBackend('auto');
const W = group.pointBytes;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The slots whose point, raised to the aggregator's secret as P raises Q's set, is among the partner's answers. */
function matchedSlots(slots: number, count: number, random = osRandom): number[] {
  const a = QuerySecret.generate();
  const d = new DummyMatches(group, count, slots, random);
  const answers = d.answer(dummyBase(group, a));
  const returned = new Set(Array.from({ length: slots }, (_, i) => hex(answers.subarray(i * W, (i + 1) * W))));
  const raised = group.blind(a, d.points);
  return Array.from({ length: slots }, (_, i) => i).filter((i) => returned.has(hex(raised.subarray(i * W, (i + 1) * W))));
}

describe('DummyMatches (SPEC §10.3)', () => {
  it('makes exactly `count` of its slots match once raised to the aggregator\'s secret, the others nothing (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }).chain((slots) => fc.tuple(fc.constant(slots), fc.integer({ min: 0, max: slots }), fc.string())), ([slots, count, seed]) => {
        expect(matchedSlots(slots, count, seededRandom(seed))).toHaveLength(count);
      }),
      { numRuns: 30 },
    );
  });

  // Which slot is the one dummy among 3: each of probability 1/3 if drawn uniformly. 6,000 draws; chi-square with 2
  // degrees of freedom exceeds 47 with probability below 1e-10. Dummies always in the first slots (an earlier version)
  // put every draw in one cell: a chi-square of 12,000.
  it('draws which slots are the dummies uniformly: the slots go out in order, so the first ones must not be favoured', () => {
    const counts = [0, 0, 0];
    for (let d = 0; d < 6_000; d++) {
      const [slot] = matchedSlots(3, 1);
      counts[slot!]! += 1;
    }
    const chi = counts.reduce((acc, o) => acc + (o - 2_000) ** 2 / 2_000, 0);
    expect(chi).toBeLessThan(47);
  });
});
