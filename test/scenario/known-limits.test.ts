import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { freshPoint } from '../../src/crypto/worker-task.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { COUNT_SQL, PUBLISHER, TEST_POLICY, buildCollaboration } from '../support/collaboration.js';
import { cleanData } from '../support/datasets.js';
import { pointHexes, streamOf } from '../support/curious.js';
import { runScenario } from './harness.js';

/**
 * Known limits (SPEC §9, §10.3): count-only unlinkability and the dummy matches' DP hold only against an aggregator P
 * that follows the protocol. The step P cheats in sends no message Q could check, and a proof over Q's returned
 * points would hand Q what it must not learn. What would close them: a non-colluding helper, or two-party
 * computation over secret-shared match bits. Each test plays the deviating P and asserts that the attack still
 * works: a change that closes one makes its test fail, on purpose, and its SPEC line changes with it.
 */

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
// The publisher (P, the querier, no policy) has people 0-29, the advertiser (Q, with a policy: dummies and padding)
// people 10-49: 20 in common.
const data = cleanData(range(0, 30), range(10, 50));
const collaboration = () => buildCollaboration({ privacy: { advertiser: TEST_POLICY } });
const label = (i: number) => QuerySecret.fromBytes(createHash('sha512').update(`per-key secret ${i}`).digest().subarray(0, 32));

describe('known limits: an aggregator that deviates in count-only', () => {
  it('known limit: a P that blinds each key under a secret of its own un-shuffles the count-only answer and learns which of its keys matched', async () => {
    let offset = 0;
    const s = await runScenario({
      collaboration: collaboration(),
      sql: COUNT_SQL,
      querier: PUBLISHER,
      data,
      backend: 'sodium',
      intercept: ({ from, msg }, sc) => {
        if (from !== 'P' || msg.type !== 'points' || msg.stage !== 'p') return undefined;
        // P's stream is its keys in order (its table has no policy: no padding); point i becomes H(p_i)^(a_i).
        const n = msg.points.length / 32;
        const points = new Uint8Array(msg.points.length);
        for (let j = 0; j < n; j++) points.set(sc.group.blind(label(offset + j), sc.hash([sc.P.keys[offset + j]!])), j * 32);
        offset += n;
        return [{ ...msg, points }];
      },
    });
    expect(s.P.member).toBe(PUBLISHER);
    expect(offset).toBe(30);
    // What P holds: Q's set H(q)^b (its padding and dummies among it) and its own points returned, H(p_i)^(a_i b),
    // shuffled. Raising Q's set to each a_i and looking the returned points up un-shuffles them.
    const returned = new Set(pointHexes(streamOf(s.P.received, 'pq')));
    const q = streamOf(s.P.received, 'q');
    const learnt = s.P.keys.filter((_, i) => pointHexes(s.group.blind(label(i), q)).some((h) => returned.has(h)));
    expect(learnt.sort()).toEqual(s.P.keys.filter((k) => s.Q.keys.includes(k)).sort());
    expect(learnt).toHaveLength(20);
  });

  it('known limit: a P that publishes a fake dummy base matches none of the dummies and counts the exact intersection', async () => {
    const s = await runScenario({
      collaboration: collaboration(),
      sql: COUNT_SQL,
      querier: PUBLISHER,
      data,
      backend: 'sodium',
      // A valid point of the group, of a scalar P does not use: Q cannot tell it from X25519(a, 9).
      intercept: ({ from, msg }, sc) => (from === 'P' && msg.type === 'dummy-base' ? [{ ...msg, point: freshPoint(sc.group) }] : undefined),
    });
    // P matches the returned points against Q's set raised to its real secret a: the dummies' answers were made with
    // the fake base, so none of them matches, and what P counts is |P ∩ Q| exactly, with no noise of Q's.
    const qa = new Set(pointHexes(s.group.blind(QuerySecret.fromBytes(s.P.secretBytes), streamOf(s.P.received, 'q'))));
    const counted = pointHexes(streamOf(s.P.received, 'pq')).filter((h) => qa.has(h)).length;
    expect(counted).toBe(20);
  });
});
