import { describe, expect, it } from 'vitest';
import { decodeRingElements, encodeRingElements } from '../../src/crypto/shares.js';
import { ProtocolViolation } from '../../src/errors.js';
import { noiseAdders, noisePlan } from '../../src/query/noise.js';
import { ADVERTISER, AGG_SQL, TEST_POLICY, buildCollaboration } from '../support/collaboration.js';
import { CATEGORIES, cleanData } from '../support/datasets.js';
import { failure, runScenario, type Interceptor } from './harness.js';

/**
 * SPEC §10.1, issue 23 item 2: in a two-party aggregate query P deals every value and Q only holds shares, so Q adds
 * no noise and P checks each share Q opens against the one it dealt: a Q that biases an opened count or value is
 * caught with certainty, before anything is released to P, with or without a privacy policy.
 */

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const data = cleanData(range(0, 120), range(40, 200));

/** Q adds 1 to the first share of its `stage` opening. */
const bias =
  (stage: 'counts' | 'values'): Interceptor =>
  ({ from, msg }) => {
    if (from !== 'Q' || msg.type !== 'open' || msg.stage !== stage) return undefined;
    const v = decodeRingElements(msg.values);
    v[0] = BigInt.asUintN(128, v[0]! + 1n);
    return [{ ...msg, values: encodeRingElements(v) }];
  };

describe.each([
  ['without a policy', buildCollaboration()],
  ['under a policy on both tables', buildCollaboration({ categoryValues: CATEGORIES, privacy: { publisher: TEST_POLICY, advertiser: TEST_POLICY } })],
])('the dealer\'s check, %s', (_name, collaboration) => {
  it('an honest run: Q adds no noise (P alone does), and the result comes out', async () => {
    const s = await runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data });
    expect(s.P.outcome?.kind).toBe('result');
    expect(s.Q.outcome?.kind).toBe('result');
    expect(noiseAdders(s.P.plan)).toBe(1);
    if (s.P.plan.privacy) expect(noisePlan(s.P.plan, noiseAdders(s.P.plan))!.holders).toBe(1);
  });

  it('Q biases an opened count share: P aborts with shares-mismatch and releases nothing', async () => {
    const s = await runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data, intercept: bias('counts') });
    const err = failure(s.P);
    expect(err).toBeInstanceOf(ProtocolViolation);
    expect((err as ProtocolViolation).reason).toBe('shares-mismatch');
    expect(err.message).toMatch(/opened count shares other than the shares dealt to it/);
    expect(s.P.sent.some((m) => m.type === 'open' && m.stage === 'values')).toBe(false);
  });

  it('Q biases an opened value share: P aborts with shares-mismatch instead of a wrong result', async () => {
    const s = await runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data, intercept: bias('values') });
    const err = failure(s.P);
    expect((err as ProtocolViolation).reason).toBe('shares-mismatch');
    expect(err.message).toMatch(/opened value shares other than the shares dealt to it/);
  });
});
