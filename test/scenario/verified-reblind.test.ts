/**
 * SPEC §4.2.1, issue 23 item 1: with `verify` in the manifest, the partner Q proves that every point it returns is its
 * one secret times the aggregator's point at that position. Each deviation below is made by intercepting an honest
 * verified run in flight; P refuses it with its reason before it deals any share.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { edwardsFor, scalarBytes } from '../../src/crypto/edwards.js';
import { POINT_BYTES } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { proveReblind, reblindContext, reblindKey } from '../../src/crypto/verified-reblind.js';
import { ProtocolViolation, type ViolationReason } from '../../src/errors.js';
import { auditDetail } from '../../src/node/coordinator.js';
import type { SessionMessage } from '../../src/wire/messages.js';
import { ADVERTISER, AGG_SQL, COLLABORATION, buildCollaboration } from '../support/collaboration.js';
import { CAMPAIGNS, cleanData } from '../support/datasets.js';
import { backendNames, failure, kindOf, kinds, runScenario, type Interceptor, type Scenario } from './harness.js';

type Points = Extract<SessionMessage, { type: 'points' }>;

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
// P = advertiser with 50 keys, in batches of 10: five returned batches. Q = publisher with 40 keys; 20 match.
const data = cleanData(range(0, 40), range(20, 70));
const verified = buildCollaboration({ verify: true });
const T2 = ed25519.Point.fromAffine({ x: 0n, y: ed25519.Point.Fp.neg(1n) });

function run(intercept?: Interceptor, backend: 'noble' | 'sodium' = 'sodium', collaboration = verified): Promise<Scenario> {
  return runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data, batchKeys: 10, backend, ...(intercept ? { intercept } : {}) });
}

/** Rewrites Q's returned batch `seq` (a copy of its points, its proof) as `f` says. */
function onReturned(seq: number, f: (m: Points, s: Scenario) => Partial<Points> | readonly SessionMessage[]): Interceptor {
  return (fl, s) => {
    if (fl.from !== 'Q' || kindOf(fl.msg) !== 'points:pq' || (fl.msg as Points).seq !== seq) return undefined;
    const m = fl.msg as Points;
    const out = f({ ...m, points: Uint8Array.from(m.points) }, s);
    return Array.isArray(out) ? out : [{ ...m, ...out }];
  };
}

const point = (b: Uint8Array, i: number) => b.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES);

/**
 * P refused Q's deviation for `reason`, told Q so, and no share was dealt by anyone. The node's coordinator records a
 * failed query's error in the audit log as `auditDetail` writes it (SPEC §8): with the reason.
 */
function expectRefused(s: Scenario, reason: ViolationReason): void {
  const err = failure(s.P);
  expect(err).toBeInstanceOf(ProtocolViolation);
  expect((err as ProtocolViolation).reason).toBe(reason);
  expect(auditDetail(err)).toMatch(new RegExp(`^PROTOCOL_VIOLATION \\(${reason}\\): `));
  expect(s.P.sent.at(-1)).toMatchObject({ type: 'abort', code: 'PROTOCOL_VIOLATION', reason });
  expect(failure(s.Q).message).toContain(`PROTOCOL_VIOLATION (${reason})`);
  expect(s.P.matchedIndices).toBeUndefined();
  for (const p of [s.P, s.Q]) expect(kinds(p.sent).filter((k) => k === 'shares' || k.startsWith('open'))).toEqual([]);
  expect(s.P.secret.isZeroed).toBe(true);
}

describe('verified re-blinding: an honest run', () => {
  it('gives the result the unverified run gives, on every backend, with a key first and a proof on every returned batch', async () => {
    const queryId = 'c0'.repeat(16);
    const options = { sql: AGG_SQL, querier: ADVERTISER, data, batchKeys: 10, queryId } as const;
    const plain = await runScenario({ ...options, collaboration: buildCollaboration(), backend: 'sodium' });
    expect(plain.P.outcome?.kind).toBe('result');
    expect(plain.Q.sent.some((m) => m.type === 'reblind-key' || (m.type === 'points' && m.proof))).toBe(false);
    for (const backend of backendNames()) {
      const s = await runScenario({ ...options, collaboration: verified, backend });
      expect(s.P.outcome).toEqual(plain.P.outcome);
      expect(s.Q.outcome).toEqual(plain.Q.outcome);
      expect(s.P.matchedIndices).toEqual(plain.P.matchedIndices);
      expect(kindOf(s.Q.sent[0]!)).toBe('reblind-key');
      const returned = s.Q.sent.filter((m): m is Points => m.type === 'points' && m.stage === 'pq');
      expect(returned).toHaveLength(5);
      expect(returned.every((m) => m.proof?.length === 64)).toBe(true);
    }
  });
});

describe('verified re-blinding: a partner that deviates is caught before any share', () => {
  it('junks one returned point (another element of the group): bad-proof', async () => {
    const s = await run(
      onReturned(1, (m) => {
        m.points.set(ed25519.Point.BASE.multiply(987654321n).toBytes(), 3 * POINT_BYTES);
        return m;
      }),
    );
    expectRefused(s, 'bad-proof');
  });

  it('swaps two returned points: bad-proof', async () => {
    const s = await run(
      onReturned(2, (m) => {
        const [a, b] = [Uint8Array.from(point(m.points, 0)), Uint8Array.from(point(m.points, 7))];
        m.points.set(b, 0);
        m.points.set(a, 7 * POINT_BYTES);
        return m;
      }),
    );
    expectRefused(s, 'bad-proof');
  });

  it('duplicates one returned point over another: bad-proof', async () => {
    const s = await run(
      onReturned(0, (m) => {
        m.points.set(Uint8Array.from(point(m.points, 4)), 5 * POINT_BYTES);
        return m;
      }),
    );
    expectRefused(s, 'bad-proof');
  });

  it('re-blinds a batch with another secret than its key\'s, with a proof that holds for that secret: bad-proof', async () => {
    const other = QuerySecret.fromBytes(new Uint8Array(32).fill(9));
    const s = await run(
      onReturned(3, (m, sc) => {
        const sent = sc.P.sent.find((x): x is Points => x.type === 'points' && x.stage === 'p' && x.seq === 3)!;
        const raised = proveReblind(edwardsFor('sodium'), other, sent.points, reblindContext(COLLABORATION, sc.queryId, 0, 3));
        return { points: raised.subarray(0, sent.points.length), proof: raised.subarray(sent.points.length) };
      }),
    );
    expectRefused(s, 'bad-proof');
  });

  it('announces a key of another secret than the one it re-blinds with: bad-proof', async () => {
    const other = QuerySecret.fromBytes(new Uint8Array(32).fill(9));
    const s = await run((fl) => (fl.from === 'Q' && fl.msg.type === 'reblind-key' ? [{ ...fl.msg, keys: [reblindKey(edwardsFor('sodium'), other)] }] : undefined));
    expectRefused(s, 'bad-proof');
  });

  it('replays the proof of another batch: bad-proof', async () => {
    let first: Uint8Array | undefined;
    const s = await run((fl, sc) => {
      if (fl.from === 'Q' && kindOf(fl.msg) === 'points:pq' && (fl.msg as Points).seq === 0) first = (fl.msg as Points).proof;
      return onReturned(1, () => ({ proof: first! }))(fl, sc);
    });
    expectRefused(s, 'bad-proof');
  });

  it('replays a whole batch of another query, its proof with it: bad-proof', async () => {
    const earlier = await run();
    const old = earlier.Q.sent.find((m): m is Points => m.type === 'points' && m.stage === 'pq' && m.seq === 0)!;
    const s = await run(onReturned(0, () => ({ points: old.points, proof: old.proof! })));
    expectRefused(s, 'bad-proof');
  });

  it('sends a returned batch without its proof: bad-proof', async () => {
    const s = await run(
      onReturned(1, (m) => {
        const { proof: _proof, ...bare } = m;
        return [bare];
      }),
    );
    expectRefused(s, 'bad-proof');
  });

  it('sends a non-canonical point (y + p): invalid-point', async () => {
    const s = await run(onReturned(1, (m) => (m.points.set(scalarBytes(2n ** 255n - 19n + 1n), 0), m)));
    expectRefused(s, 'invalid-point');
  });

  it('sends a point of small order: invalid-point', async () => {
    const s = await run(onReturned(1, (m) => (m.points.set(T2.toBytes(), 2 * POINT_BYTES), m)));
    expectRefused(s, 'invalid-point');
  });

  it('sends a point outside the prime-order subgroup (P + T2, CVE-2025-69277\'s kind): invalid-point', async () => {
    const s = await run(
      onReturned(4, (m) => {
        m.points.set(ed25519.Point.fromBytes(point(m.points, 1)).add(T2).toBytes(), POINT_BYTES);
        return m;
      }),
    );
    expectRefused(s, 'invalid-point');
  });

  it('drops a point from a returned batch: bad-count', async () => {
    const s = await run(onReturned(2, (m) => ({ points: m.points.subarray(POINT_BYTES) })));
    expectRefused(s, 'bad-count');
  });

  it('returns points before its key: wrong-round; sends no key at all: wrong-round', async () => {
    let key: SessionMessage | undefined;
    const late = await run((fl) => {
      if (fl.from !== 'Q') return undefined;
      if (fl.msg.type === 'reblind-key') return ((key = fl.msg), []);
      if (kindOf(fl.msg) === 'points:pq' && key) return [fl.msg, key];
      return undefined;
    });
    expectRefused(late, 'wrong-round');
    const none = await run((fl) => (fl.from === 'Q' && fl.msg.type === 'reblind-key' ? [] : undefined));
    expectRefused(none, 'wrong-round');
  });

  it('a key in a query without verify, or a proof in one: unexpected-message', async () => {
    const unverified = buildCollaboration();
    const key = await run((fl) => (fl.from === 'Q' && kindOf(fl.msg) === 'points:q' && (fl.msg as Points).seq === 0 ? [{ type: 'reblind-key', queryId: fl.msg.queryId, keys: [ed25519.Point.BASE.toBytes()] }, fl.msg] : undefined), 'sodium', unverified);
    expectRefused(key, 'unexpected-message');
    const proof = await run(onReturned(0, () => ({ proof: new Uint8Array(64) })), 'sodium', unverified);
    expectRefused(proof, 'unexpected-message');
  });
});

describe('verified re-blinding grouped by the partner\'s dimensions (SPEC §4.6)', () => {
  const sql = 'SELECT p.campaign, COUNT(*), SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY p.campaign';
  const options = { sql, querier: ADVERTISER, data, batchKeys: 10, queryId: 'd1'.repeat(16), backend: 'sodium' } as const;

  it('one key per part, each returned batch proven under its part\'s: the unverified result', async () => {
    const plain = await runScenario({ ...options, collaboration: buildCollaboration({ campaignValues: CAMPAIGNS }) });
    const s = await runScenario({ ...options, collaboration: buildCollaboration({ campaignValues: CAMPAIGNS, verify: true }) });
    const parts = s.P.plan.mode === 'aggregate' ? s.P.plan.partnerGroups!.labels.length : 0;
    expect(parts).toBeGreaterThan(1);
    expect(s.Q.sent[0]).toMatchObject({ type: 'reblind-key', keys: expect.any(Array) });
    expect((s.Q.sent[0] as Extract<SessionMessage, { type: 'reblind-key' }>).keys).toHaveLength(parts);
    expect(s.P.outcome?.kind).toBe('result');
    expect(s.P.outcome).toEqual(plain.P.outcome);
  });

  it('keys of two parts swapped: bad-proof', async () => {
    const s = await runScenario({
      ...options,
      collaboration: buildCollaboration({ campaignValues: CAMPAIGNS, verify: true }),
      intercept: (fl) => (fl.from === 'Q' && fl.msg.type === 'reblind-key' ? [{ ...fl.msg, keys: [fl.msg.keys[1]!, fl.msg.keys[0]!, ...fl.msg.keys.slice(2)] }] : undefined),
    });
    expectRefused(s, 'bad-proof');
  });
});
