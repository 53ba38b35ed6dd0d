/**
 * One peer misbehaves, the other must stop: its outcome is `failed` with the right code, it tells the peer
 * with an `abort`, its query secret is wiped, and nothing is opened afterwards. Every misbehaviour is made
 * by intercepting an honest run's messages in flight (or, where the schema would refuse the frame first,
 * by handing the machine the message directly).
 */
import { describe, expect, it } from 'vitest';
import type { SessionMessage } from '../../src/wire/messages.js';
import { decodeRingElements, encodeRingElements } from '../../src/crypto/shares.js';
import { type CleanroomError, ProtocolViolation, type ViolationReason } from '../../src/errors.js';
import { MAX_GROUPS, PSI_BATCH_KEYS } from '../../src/limits.js';
import { encodeFrame } from '../../src/wire/codec.js';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, buildCollaboration } from '../support/collaboration.js';
import { cleanData } from '../support/datasets.js';
import { Scenario, backendNames, failure, kindOf, kinds, other, type Interceptor, type Role, type ScenarioOptions, type Wire } from './harness.js';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

// Aggregate mode: P = advertiser with 50 keys (5 batches of 10), Q = publisher with 40 keys.
// Count-only: P = publisher with 40 keys (4 batches), Q = advertiser with 50 keys.
const data = cleanData(range(0, 40), range(20, 70));
const AGG = { sql: AGG_SQL, querier: ADVERTISER } as const;
const COUNT = { sql: COUNT_SQL, querier: PUBLISHER } as const;

async function scenario(query: { sql: string; querier: string }, intercept?: Interceptor, more: Partial<ScenarioOptions> = {}): Promise<Scenario> {
  return Scenario.create({ collaboration: buildCollaboration(), data, batchKeys: 10, backend: 'sodium', ...query, intercept, ...more });
}

async function run(query: { sql: string; querier: string }, intercept?: Interceptor, more: Partial<ScenarioOptions> = {}): Promise<Scenario> {
  return (await scenario(query, intercept, more)).run();
}

/** Acts on the nth (0-based) message of one kind ('points:p', 'shares', 'open:counts'...) sent by `from`. */
function onNth(from: Role, kind: string, nth: number, f: (m: SessionMessage) => readonly Wire[]): Interceptor {
  let seen = 0;
  return (fl) => {
    if (fl.from !== from || kindOf(fl.msg) !== kind) return undefined;
    return seen++ === nth ? f(fl.msg) : undefined;
  };
}

/** Holds back the first `held` message of `from` and delivers it right after the first `after` message. */
function deliverAfter(from: Role, held: string, after: string): Interceptor {
  let holding: SessionMessage | undefined;
  let done = false;
  return (fl) => {
    if (fl.from !== from || done) return undefined;
    if (kindOf(fl.msg) === held && holding === undefined) {
      holding = fl.msg;
      return [];
    }
    if (kindOf(fl.msg) === after && holding !== undefined) {
      done = true;
      return [fl.msg, holding];
    }
    return undefined;
  };
}

const RESULT_ONLY = ['open:values', 'labels'];

interface VictimOptions {
  peerHadOutcome?: boolean;
  nothingOpenedBy?: readonly Role[];
}

/**
 * The victim failed with `code`, sent one abort carrying that code as its last message, wiped its secret, and got
 * no result; the abort reached the peer, which failed with ABORTED. Returns the victim's error.
 */
function expectFailure(s: Scenario, victim: Role, code: string, opts: VictimOptions): CleanroomError {
  const v = s.party(victim);
  const err = failure(v);
  expect(err.code).toBe(code);
  expect(v.sent.filter((m) => m.type === 'abort')).toHaveLength(1);
  expect(v.sent.at(-1)).toMatchObject({ type: 'abort', queryId: s.queryId, code });
  expect(v.secret.isZeroed).toBe(true);
  const peer = s.party(other(victim));
  if (!opts.peerHadOutcome) {
    const perr = failure(peer);
    expect(perr.code).toBe('ABORTED');
    expect(perr.message).toContain(code);
    expect(peer.received.at(-1)).toMatchObject({ type: 'abort', code });
    // Aborting sends nothing back: the peer's last step, the one that handled the abort, sent nothing.
    expect(peer.steps.at(-1)!.send).toEqual([]);
    expect(peer.secret.isZeroed).toBe(true);
  }
  for (const role of opts.nothingOpenedBy ?? ['P', 'Q']) {
    expect(kinds(s.party(role).sent).filter((k) => RESULT_ONLY.includes(k))).toEqual([]);
  }
  return err;
}

/** A local failure of the victim (not the peer's fault): its code and what its message says. */
function expectVictim(s: Scenario, victim: Role, code: string, re: RegExp, opts: VictimOptions = {}): void {
  expect(expectFailure(s, victim, code, opts).message).toMatch(re);
}

/**
 * The victim refused a violation of the protocol for `reason` (SPEC §6): in its error, in its abort, and, the abort
 * having crossed the wire codec, in the peer's error. `message` only where the text itself is what is tested.
 */
function expectViolation(s: Scenario, victim: Role, reason: ViolationReason, opts: VictimOptions & { message?: RegExp } = {}): void {
  const err = expectFailure(s, victim, 'PROTOCOL_VIOLATION', opts);
  expect(err).toBeInstanceOf(ProtocolViolation);
  expect((err as ProtocolViolation).reason).toBe(reason);
  if (opts.message) expect(err.message).toMatch(opts.message);
  expect(s.party(victim).sent.at(-1)).toMatchObject({ type: 'abort', reason });
  if (!opts.peerHadOutcome) {
    expect(s.party(other(victim)).received.at(-1)).toMatchObject({ type: 'abort', reason });
    expect(failure(s.party(other(victim))).message).toContain(`PROTOCOL_VIOLATION (${reason})`);
  }
}

/** A Points message that is a copy of `m` with other points. */
const withPoints = (m: SessionMessage, points: Uint8Array): SessionMessage => ({ ...(m as Extract<SessionMessage, { type: 'points' }>), points });

describe('messages of the wrong round', () => {
  it("'shares' during PSI: the partner refuses them", async () => {
    const s = await run(AGG, onNth('P', 'points:p', 0, (m) => [{ type: 'shares', queryId: m.queryId, groups: 1, width: 4, values: new Uint8Array(64) }, m]));
    expectViolation(s, 'Q', 'wrong-round');
  });

  it("'shares' sent to the aggregator: it never receives shares", async () => {
    const s = await run(AGG, onNth('Q', 'points:q', 0, (m) => [{ type: 'shares', queryId: m.queryId, groups: 1, width: 4, values: new Uint8Array(64) }]));
    expectViolation(s, 'P', 'unexpected-message');
  });

  it("'labels' before the values: the partner refuses them", async () => {
    const s = await run(AGG, deliverAfter('P', 'open:values', 'labels'));
    // Both have opened their values by then (P has its result); what matters is that Q assembles nothing from
    // labels that arrive out of order.
    expectViolation(s, 'Q', 'wrong-round', { peerHadOutcome: true, nothingOpenedBy: [] });
    expect(s.P.outcome?.kind).toBe('result');
  });

  it('a violation that arrives while the aggregator aggregates: reported as the violation, one abort, not INTERNAL', async () => {
    let s: Scenario | undefined;
    s = await scenario(AGG, undefined, {
      aggregates: (honest) => {
        // DuckDB is still aggregating when the partner's violation arrives; its answer comes after.
        s!.inject('P', { type: 'shares', queryId: s!.queryId, groups: 1, width: 4, values: new Uint8Array(64) });
        return honest;
      },
    });
    s.run();
    expectViolation(s, 'P', 'unexpected-message');
    // The late answer of DuckDB is moot: no second failure (the driver would have reported the first it settled).
    expect(s.P.steps.flatMap((st) => (st.outcome?.kind === 'failed' ? [st.outcome.error.code] : []))).toEqual(['PROTOCOL_VIOLATION']);
  });

  it("'labels' sent to the aggregator", async () => {
    const s = await run(AGG, onNth('Q', 'points-end:q', 0, (m) => [m, { type: 'labels', queryId: m.queryId, labels: [['books']] }]));
    expectViolation(s, 'P', 'unexpected-message');
  });

  for (const victim of ['P', 'Q'] as const) {
    for (const type of ['propose', 'accept', 'reject'] as const) {
      it(`'${type}' in the middle of a session, sent to ${victim}`, async () => {
        const make = (queryId: string): SessionMessage =>
          type === 'propose'
            ? { type, queryId, querier: PUBLISHER, sql: COUNT_SQL }
            : type === 'accept'
              ? { type, queryId }
              : { type, queryId, code: 'RULE_VIOLATION', message: 'changed my mind' };
        const s = await run(AGG, onNth(other(victim), victim === 'Q' ? 'points:p' : 'points:q', 0, (m) => [m, make(m.queryId)]));
        expectViolation(s, victim, 'unexpected-message');
      });
    }
  }

  it('value shares before count shares, at the aggregator', async () => {
    const s = await run(AGG, deliverAfter('Q', 'open:counts', 'open:values'));
    expectViolation(s, 'P', 'wrong-round', { nothingOpenedBy: ['P'] });
  });

  it('count shares before the shares themselves, at the partner', async () => {
    const s = await run(AGG, deliverAfter('P', 'shares', 'open:counts'));
    expectViolation(s, 'Q', 'wrong-round');
  });

  it('a stage the receiver never receives: pq or q to the partner, p to the aggregator', async () => {
    for (const stage of ['pq', 'q'] as const) {
      const s = await run(AGG, onNth('P', 'points:p', 0, (m) => [{ ...(m as Extract<SessionMessage, { type: 'points' }>), stage }]));
      expectViolation(s, 'Q', 'unexpected-message');
    }
    const t = await run(AGG, onNth('Q', 'points:q', 0, (m) => [{ ...(m as Extract<SessionMessage, { type: 'points' }>), stage: 'p' }]));
    expectViolation(t, 'P', 'unexpected-message');
  });
});

describe('batch numbering and end markers', () => {
  it('a replayed batch (batch 0 again after batch 2)', async () => {
    let first: SessionMessage | undefined;
    const s = await run(AGG, (fl) => {
      if (fl.from !== 'P' || fl.msg.type !== 'points') return undefined;
      first ??= fl.msg;
      return fl.msg.seq === 2 ? [fl.msg, first] : undefined;
    });
    expectViolation(s, 'Q', 'replayed-batch');
  });

  it('a replayed returned batch, at the aggregator', async () => {
    let first: SessionMessage | undefined;
    const s = await run(AGG, (fl) => {
      if (fl.from !== 'Q' || fl.msg.type !== 'points' || fl.msg.stage !== 'pq') return undefined;
      first ??= fl.msg;
      return fl.msg.seq === 1 ? [fl.msg, first] : undefined;
    });
    expectViolation(s, 'P', 'replayed-batch');
  });

  it('a duplicated batch', async () => {
    const s = await run(AGG, onNth('P', 'points:p', 1, (m) => [m, m]));
    expectViolation(s, 'Q', 'replayed-batch');
  });

  it('a skipped batch (a gap in the numbering)', async () => {
    const s = await run(AGG, onNth('P', 'points:p', 1, () => []));
    expectViolation(s, 'Q', 'skipped-batch');
  });

  it('the last batch lost: the end marker disagrees with what arrived', async () => {
    const s = await run(AGG, onNth('P', 'points:p', 4, () => []));
    expectViolation(s, 'Q', 'bad-count');
  });

  it('points-end with a wrong count or a wrong number of batches', async () => {
    const end = (f: (m: Extract<SessionMessage, { type: 'points-end' }>) => SessionMessage) => (m: SessionMessage) => [f(m as Extract<SessionMessage, { type: 'points-end' }>)];
    const a = await run(AGG, onNth('P', 'points-end:p', 0, end((m) => ({ ...m, count: m.count + 1 }))));
    expectViolation(a, 'Q', 'bad-count');
    const b = await run(AGG, onNth('P', 'points-end:p', 0, end((m) => ({ ...m, batches: m.batches - 1 }))));
    expectViolation(b, 'Q', 'bad-count');
    const c = await run(AGG, onNth('Q', 'points-end:q', 0, end((m) => ({ ...m, count: m.count - 1 }))));
    expectViolation(c, 'P', 'bad-count');
    const d = await run(COUNT, onNth('Q', 'points-end:pq', 0, end((m) => ({ ...m, count: m.count + 1 }))));
    expectViolation(d, 'P', 'bad-count');
  });

  it('a returned stream cut short, with an end marker made to agree: fewer points returned than sent', async () => {
    let dropped = 0;
    const s = await run(AGG, (fl) => {
      if (fl.from !== 'Q') return undefined;
      if (fl.msg.type === 'points' && fl.msg.stage === 'pq' && fl.msg.seq === 4) {
        dropped = fl.msg.points.length / 32;
        return [];
      }
      if (fl.msg.type === 'points-end' && fl.msg.stage === 'pq') return [{ ...fl.msg, batches: fl.msg.batches - 1, count: fl.msg.count - dropped }];
      return undefined;
    });
    expectViolation(s, 'P', 'bad-count');
  });

  it('a second end marker', async () => {
    const s = await run(AGG, onNth('P', 'points-end:p', 0, (m) => [m, m]));
    // The first marker ended the partner's PSI: the second belongs to a round that is over.
    expectViolation(s, 'Q', 'wrong-round');
  });

  it('points after their stream ended', async () => {
    const s = await run(AGG, onNth('Q', 'points-end:q', 0, (m) => [m, { type: 'points', queryId: m.queryId, stage: 'q', seq: 1, points: new Uint8Array(32).fill(9) }]));
    expectViolation(s, 'P', 'after-end');
  });

  it('returned points before the end of the partner\'s set', async () => {
    const s = await run(AGG, deliverAfter('Q', 'points-end:q', 'points:pq'));
    expectViolation(s, 'P', 'wrong-round');
  });

  it('more points returned than sent', async () => {
    let firstReturned: Extract<SessionMessage, { type: 'points' }> | undefined;
    const s = await run(AGG, (fl) => {
      if (fl.from !== 'Q') return undefined;
      if (fl.msg.type === 'points' && fl.msg.stage === 'pq') firstReturned ??= fl.msg;
      if (fl.msg.type !== 'points-end' || fl.msg.stage !== 'pq') return undefined;
      // One more batch, repeating a genuine returned point, and an end marker that agrees with it.
      const extra = { ...firstReturned!, seq: fl.msg.batches, points: firstReturned!.points.subarray(0, 32) };
      return [extra, { ...fl.msg, batches: fl.msg.batches + 1, count: fl.msg.count + 1 }];
    });
    expectViolation(s, 'P', 'bad-count');
  });

  it('the returned stream ended before the aggregator finished its own stream', async () => {
    const s = await scenario(AGG);
    s.feedOne('P');
    s.inject('P', { type: 'points-end', queryId: s.queryId, stage: 'pq', batches: 0, count: 0 });
    expectViolation(s, 'P', 'wrong-round', { peerHadOutcome: true });
  });
});

describe('point encodings', () => {
  it('schema level: 31, 0 and 33 bytes, or more than PSI_BATCH_KEYS points, never get past decodeFrame', async () => {
    for (const length of [31, 0, 33, (PSI_BATCH_KEYS + 1) * 32]) {
      const s = await run(AGG, onNth('P', 'points:p', 0, (m) => [{ raw: encodeFrame(withPoints(m, new Uint8Array(length).fill(5))) }]));
      expect(s.Q.frameError).toMatchObject({ code: 'PROTOCOL_VIOLATION', reason: 'malformed-frame' });
      expect(s.Q.frameError?.message).toMatch(/invalid session message[\s\S]*multiple of 32 bytes/);
      // The machine never saw it: the driver refused the frame, and its abort still reaches P.
      expect(kinds(s.Q.received)).not.toContain('points:p');
      expectViolation(s, 'Q', 'malformed-frame');
    }
  });

  it('schema level: a frame that is not msgpack, and a message of an unknown type', async () => {
    const a = await run(AGG, onNth('P', 'points:p', 0, () => [{ raw: Uint8Array.of(0xc1, 0x00) }]));
    expectViolation(a, 'Q', 'malformed-frame');
    const b = await run(AGG, onNth('P', 'points:p', 0, (m) => [{ raw: encodeFrame({ ...m, type: 'gossip' }) }]));
    expectViolation(b, 'Q', 'malformed-frame');
    const c = await run(AGG, onNth('P', 'points:p', 0, (m) => [{ raw: encodeFrame({ ...m, extra: 1 }) }]));
    expectViolation(c, 'Q', 'malformed-frame');
  });

  it('machine level: a length that is not a multiple of 32 is refused even without the schema', async () => {
    const s = await scenario(AGG);
    const step = s.injectUnchecked('Q', { type: 'points', queryId: s.queryId, stage: 'p', seq: 0, points: s.hash(['a', 'b']).subarray(0, 33) });
    expect(step.outcome).toMatchObject({ kind: 'failed', error: { code: 'PROTOCOL_VIOLATION', reason: 'bad-length' } });
    expect(step.send).toMatchObject([{ type: 'abort', code: 'PROTOCOL_VIOLATION', reason: 'bad-length' }]);
    const t = await scenario(AGG);
    const step2 = t.injectUnchecked('P', { type: 'points', queryId: t.queryId, stage: 'q', seq: 0, points: new Uint8Array(0) });
    expect(step2.outcome).toMatchObject({ kind: 'failed', error: { code: 'PROTOCOL_VIOLATION', reason: 'bad-length' } });
  });

  it('machine level: a ragged returned batch can never complete the returned stream', async () => {
    // The aggregator does not blind returned points, it only compares them, so a 33-byte batch that got past the
    // schema is not refused on arrival; but it cannot be accounted for, so the end marker fails and nothing is shared.
    for (const change of [(b: Uint8Array) => Buffer.concat([b, Uint8Array.of(1)]), (b: Uint8Array) => b.subarray(1)]) {
      const s = await run(AGG, onNth('Q', 'points:pq', 0, (m) => [{ unchecked: withPoints(m, change((m as Extract<SessionMessage, { type: 'points' }>).points)) }]));
      expectViolation(s, 'P', 'bad-count');
      expect(kinds(s.P.sent)).not.toContain('shares');
    }
  });

  const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
  const BAD_POINTS: { name: string; u: Uint8Array; re: RegExp }[] = [
    { name: 'u = p = 2^255 - 19 (non-canonical)', u: hex('ed' + 'ff'.repeat(30) + '7f'), re: /is not a canonical u-coordinate/ },
    { name: 'u = p + 1 (non-canonical)', u: hex('ee' + 'ff'.repeat(30) + '7f'), re: /is not a canonical u-coordinate/ },
    { name: 'u = 2^255 - 1 (non-canonical)', u: hex('ff'.repeat(31) + '7f'), re: /is not a canonical u-coordinate/ },
    { name: 'u = 0 (small order)', u: new Uint8Array(32), re: /has small order/ },
    { name: 'u = 1 (small order)', u: hex('01' + '00'.repeat(31)), re: /has small order/ },
    { name: 'u = p - 1 (small order)', u: hex('ec' + 'ff'.repeat(30) + '7f'), re: /has small order/ },
    { name: 'an order-8 point', u: hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'), re: /has small order/ },
    { name: 'another order-8 point', u: hex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157'), re: /has small order/ },
  ];

  describe.each(backendNames())('on the %s backend', (backend) => {
    const replaceThird = (m: SessionMessage, u: Uint8Array) => {
      const pts = Uint8Array.from((m as Extract<SessionMessage, { type: 'points' }>).points);
      pts.set(u, 64);
      return [withPoints(m, pts)];
    };

    for (const bad of BAD_POINTS) {
      it(`${bad.name}: refused by the partner in P's set and by the aggregator in Q's set`, async () => {
        const s = await run(AGG, onNth('P', 'points:p', 0, (m) => replaceThird(m, bad.u)), { backend });
        expectViolation(s, 'Q', 'invalid-point', { message: new RegExp(`point 2 ${bad.re.source}`) });
        const t = await run(COUNT, onNth('Q', 'points:q', 0, (m) => replaceThird(m, bad.u)), { backend });
        expectViolation(t, 'P', 'invalid-point', { message: new RegExp(`point 2 ${bad.re.source}`) });
      });
    }

    it('a valid point with the top bit set is refused, not masked', async () => {
      const s = await run(AGG, onNth('P', 'points:p', 0, (m) => {
        const pts = Uint8Array.from((m as Extract<SessionMessage, { type: 'points' }>).points);
        pts[32 + 31]! |= 0x80;
        return [withPoints(m, pts)];
      }), { backend });
      expectViolation(s, 'Q', 'invalid-point', { message: /point 1 is not a canonical u-coordinate/ });
    });

    it('an all-zero blinding result is never produced from an accepted point', async () => {
      // The blocklist is the whole set of inputs X25519 maps to zero: u = 0 and u = 1 both fail before the ladder.
      const s = await scenario(AGG, undefined, { backend });
      for (const u of [new Uint8Array(32), hex('01' + '00'.repeat(31))]) {
        expect(() => s.group.blind(s.Q.secret, u)).toThrow(expect.objectContaining({ reason: 'invalid-point' }));
      }
    });
  });
});

describe('shares and openings of the wrong shape', () => {
  type SharesMsg = Extract<SessionMessage, { type: 'shares' }>;
  type OpenMsg = Extract<SessionMessage, { type: 'open' }>;
  const shares = (f: (m: SharesMsg) => SessionMessage) => (m: SessionMessage) => [f(m as SharesMsg)];
  const open = (f: (m: OpenMsg) => SessionMessage) => (m: SessionMessage) => [f(m as OpenMsg)];
  const grow = (b: Uint8Array, n: number) => Buffer.concat([b, new Uint8Array(n).fill(3)]);

  it('shares of the wrong width', async () => {
    const s = await run(AGG, onNth('P', 'shares', 0, shares((m) => ({ ...m, width: m.width + 2, values: grow(m.values, m.groups * 2 * 16) }))));
    expectViolation(s, 'Q', 'bad-share-shape');
  });

  it('a count-only query with more than one group', async () => {
    const s = await run(COUNT, onNth('P', 'shares', 0, shares((m) => ({ ...m, groups: 2, values: grow(m.values, m.values.length) }))));
    expectViolation(s, 'Q', 'bad-share-shape');
  });

  it('shares whose length does not match groups x width, or is not whole ring elements', async () => {
    const a = await run(AGG, onNth('P', 'shares', 0, shares((m) => ({ ...m, values: m.values.subarray(16) }))));
    expectViolation(a, 'Q', 'bad-share-shape');
    const b = await run(AGG, onNth('P', 'shares', 0, shares((m) => ({ ...m, values: grow(m.values, 16) }))));
    expectViolation(b, 'Q', 'bad-share-shape');
    const c = await run(AGG, onNth('P', 'shares', 0, shares((m) => ({ ...m, values: m.values.subarray(1) }))));
    expectViolation(c, 'Q', 'bad-length');
    const d = await run(AGG, onNth('P', 'shares', 0, shares((m) => ({ ...m, values: new Uint8Array(0), groups: m.groups }))));
    expectViolation(d, 'Q', 'bad-share-shape');
  });

  it('count shares of the wrong length, at either side', async () => {
    // Q opens its value shares to P right after its count shares, before P can refuse the counts: P, the
    // receiver, then fails without reading them, so nothing reaches a result.
    const a = await run(AGG, onNth('Q', 'open:counts', 0, open((m) => ({ ...m, values: grow(m.values, 16) }))));
    expectViolation(a, 'P', 'bad-share-shape', { nothingOpenedBy: ['P'] });
    const b = await run(COUNT, onNth('P', 'open:counts', 0, open((m) => ({ ...m, values: new Uint8Array(0) }))));
    // Here the misbehaving side is P: having Q's honest count shares, it opens its values to Q, who never reads them.
    expectViolation(b, 'Q', 'bad-share-shape', { nothingOpenedBy: ['Q'] });
    expect(b.Q.outcome?.kind).toBe('failed');
    const c = await run(COUNT, onNth('Q', 'open:counts', 0, open((m) => ({ ...m, values: m.values.subarray(0, 15) }))));
    expectViolation(c, 'P', 'bad-length', { nothingOpenedBy: ['P'] });
  });

  it('value shares of the wrong length, at either side', async () => {
    const a = await run(AGG, onNth('Q', 'open:values', 0, open((m) => ({ ...m, values: grow(m.values, 16) }))));
    expectViolation(a, 'P', 'bad-share-shape', { peerHadOutcome: true, nothingOpenedBy: [] });
    const b = await run(AGG, onNth('P', 'open:values', 0, open((m) => ({ ...m, values: m.values.subarray(16) }))));
    expectViolation(b, 'Q', 'bad-share-shape', { peerHadOutcome: true, nothingOpenedBy: [] });
    expect(b.Q.outcome?.kind).toBe('failed');
  });

  it('released positions missing, where none are due, of the wrong number, repeated or out of range (SPEC §4.3)', async () => {
    const without = await run(AGG, onNth('P', 'open:counts', 0, open(({ positions: _, ...m }) => m)));
    expectViolation(without, 'Q', 'bad-share-shape', { nothingOpenedBy: ['Q'] });
    const undue = await run(AGG, onNth('Q', 'open:counts', 0, open((m) => ({ ...m, positions: [0] }))));
    expectViolation(undue, 'P', 'bad-share-shape', { nothingOpenedBy: ['P'] });
    for (const wrong of [(p: number[]) => p.slice(1), (p: number[]) => [p[0]!, ...p], (p: number[]) => [...p.slice(0, -1), 9_999]]) {
      const s = await run(AGG, onNth('P', 'open:counts', 0, open((m) => ({ ...m, positions: wrong([...m.positions!]) }))));
      expectViolation(s, 'Q', 'bad-share-shape', { nothingOpenedBy: ['Q'] });
    }
  });

  it('labels of the wrong number or width, at the partner', async () => {
    type LabelsMsg = Extract<SessionMessage, { type: 'labels' }>;
    const a = await run(AGG, onNth('P', 'labels', 0, (m) => [{ ...(m as LabelsMsg), labels: [...(m as LabelsMsg).labels, ['extra']] }]));
    expectViolation(a, 'Q', 'bad-share-shape', { peerHadOutcome: true, nothingOpenedBy: [] });
    const b = await run(AGG, onNth('P', 'labels', 0, (m) => [{ ...(m as LabelsMsg), labels: (m as LabelsMsg).labels.map((l) => [...l, 'x']) }]));
    expectViolation(b, 'Q', 'bad-share-shape', { peerHadOutcome: true, nothingOpenedBy: [] });
  });
});

describe('identity of the query and the end of the session', () => {
  it('a message for another query id, at either side', async () => {
    const otherId = 'f'.repeat(32);
    const a = await run(AGG, onNth('P', 'points:p', 1, (m) => [{ ...m, queryId: otherId }]));
    expectViolation(a, 'Q', 'wrong-query');
    const b = await run(AGG, onNth('Q', 'points:q', 0, (m) => [{ ...m, queryId: otherId }]));
    expectViolation(b, 'P', 'wrong-query');
    const c = await run(AGG, onNth('P', 'shares', 0, (m) => [{ ...m, queryId: otherId }]));
    expectViolation(c, 'Q', 'wrong-query');
  });

  it('an abort naming another query is a violation, stops this one, and nothing is opened', async () => {
    const s = await run(AGG, onNth('P', 'shares', 0, () => [{ type: 'abort', queryId: 'f'.repeat(32), code: 'INTERNAL', message: 'wrong id' }]));
    expectViolation(s, 'Q', 'wrong-query');
    for (const p of [s.P, s.Q]) expect(kinds(p.sent).filter((k) => RESULT_ONLY.includes(k))).toEqual([]);
    expect(s.P.outcome?.kind).not.toBe('result');
  });

  it('anything after the end: the finished machine refuses it and says so with an abort', async () => {
    const s = await run(AGG);
    expect(s.P.outcome?.kind).toBe('result');
    expect(s.Q.outcome?.kind).toBe('result');
    const lastToQ = s.P.sent.at(-1)!;
    const lastToP = s.Q.sent.at(-1)!;
    for (const [to, msg] of [
      ['Q', lastToQ],
      ['P', lastToP],
      ['Q', { type: 'points', queryId: s.queryId, stage: 'p', seq: 5, points: s.hash(['late']) }],
      ['P', { type: 'open', queryId: s.queryId, stage: 'counts', values: encodeRingElements([1n]) }],
    ] as const) {
      const step = s.inject(to, msg as SessionMessage)!;
      expect(step.outcome).toMatchObject({ kind: 'failed', error: { code: 'PROTOCOL_VIOLATION', reason: 'after-end' } });
      expect(step.send).toEqual([{ type: 'abort', queryId: s.queryId, code: 'PROTOCOL_VIOLATION', reason: 'after-end', message: expect.any(String) }]);
    }
  });

  it('a non-receiver partner that is sent values after its release refuses them', async () => {
    const s = await run(AGG, undefined, { collaboration: buildCollaboration({ receivers: [ADVERTISER] }) });
    expect(s.Q.outcome?.kind).toBe('released');
    const step = s.inject('Q', { type: 'open', queryId: s.queryId, stage: 'values', values: encodeRingElements([1n, 2n]) })!;
    expect(step.outcome).toMatchObject({ kind: 'failed', error: { code: 'PROTOCOL_VIOLATION', reason: 'after-end' } });
  });
});

describe("the peer's abort", () => {
  const abort = (m: SessionMessage): SessionMessage => ({ type: 'abort', queryId: m.queryId, code: 'TIMEOUT', message: 'my database went away' });

  it('during PSI: the partner fails with ABORTED, sends nothing back and returns no more points', async () => {
    const s = await run(AGG, onNth('P', 'points:p', 2, (m) => [abort(m)]));
    const err = failure(s.Q);
    expect(err.code).toBe('ABORTED');
    expect(err.message).toBe('the peer aborted the query: TIMEOUT: my database went away');
    expect(s.Q.steps.at(-1)!.send).toEqual([]);
    expect(s.Q.sent.filter((m) => m.type === 'abort')).toEqual([]);
    expect(s.Q.secret.isZeroed).toBe(true);
    expect(s.P.outcome?.kind).not.toBe('result');
  });

  it('after the shares, before the counts: the aggregator fails with ABORTED and opens nothing', async () => {
    const s = await run(AGG, onNth('Q', 'open:counts', 0, (m) => [abort(m)]));
    expect(failure(s.P).code).toBe('ABORTED');
    expect(s.P.steps.at(-1)!.send).toEqual([]);
    expect(kinds(s.P.sent)).not.toContain('open:values');
    expect(kinds(s.P.sent)).not.toContain('labels');
    expect(s.P.secret.isZeroed).toBe(true);
  });

  it('after the counts, before the values: the partner fails with ABORTED and assembles no result', async () => {
    const s = await run(AGG, onNth('P', 'open:values', 0, (m) => [abort(m)]));
    expect(failure(s.Q).code).toBe('ABORTED');
    expect(s.Q.outcome?.kind).not.toBe('result');
    // Once aborted, the labels that follow are not read (the driver stops) and would be refused if they were.
    const late = s.inject('Q', s.P.sent.find((m) => m.type === 'labels')!)!;
    expect(late.outcome).toMatchObject({ kind: 'failed', error: { code: 'PROTOCOL_VIOLATION', reason: 'after-end' } });
  });

  it("while the aggregator's driver computes its aggregates: the late answer shares nothing", async () => {
    // The peer's abort lands while the driver is in DuckDB (the driver awaits aggregateMatched), then the answer comes.
    let s!: Scenario;
    s = await scenario(AGG, undefined, {
      aggregates: (honest) => {
        s.injectUnchecked('P', { type: 'abort', queryId: s.queryId, code: 'TIMEOUT', message: 'gone' });
        return honest;
      },
    });
    s.run();
    expect(failure(s.P).code).toBe('ABORTED');
    const late = s.P.steps.at(-1)!;
    expect(kinds(late.send)).not.toContain('shares');
    expect(kinds(late.send)).not.toContain('open:counts');
    expect(kinds(s.P.sent)).not.toContain('shares');
    expect(kinds(s.Q.received)).not.toContain('shares');
  });
});

describe('local failures on the aggregator', () => {
  it('more groups than MAX_GROUPS: LIMIT_EXCEEDED before anything is shared, and the partner is told', async () => {
    const s = await run(AGG, undefined, {
      aggregates: () => Array.from({ length: MAX_GROUPS + 1 }, (_, i) => ({ labels: [`g${i}`], values: [1n, 1n, 0n, 0n] })),
    });
    expectVictim(s, 'P', 'LIMIT_EXCEEDED', new RegExp(`yields ${MAX_GROUPS + 1} groups; at most ${MAX_GROUPS}`));
    expect(kinds(s.P.sent)).not.toContain('shares');
  });

  it('a group vector of the wrong width from the driver is an INTERNAL failure, and nothing is shared', async () => {
    const s = await run(AGG, undefined, { aggregates: (honest) => honest.map((g) => ({ ...g, values: g.values.slice(1) })) });
    expectVictim(s, 'P', 'INTERNAL', /group vector of 3 values, 4 expected/);
    expect(kinds(s.P.sent)).not.toContain('shares');
  });
});

describe('a partner lying in its count shares', () => {
  // With the advertiser's minimum at 6, every category here rests on 5 matched keys: an honest run releases
  // nothing. A partner that adds to its count shares makes the aggregator's reconstructed counts pass the rule.
  const strict = () => buildCollaboration({ minDistinctKeys: { advertiser: 6 } });
  const inflate = (m: SessionMessage): SessionMessage[] => {
    const o = m as Extract<SessionMessage, { type: 'open' }>;
    return [{ ...o, values: encodeRingElements(decodeRingElements(o.values).map((v) => BigInt.asUintN(128, v + 1000n))) }];
  };

  it('honest baseline: nothing survives the rule, so no label and no value share is opened', async () => {
    const s = await run(AGG, undefined, { collaboration: strict() });
    expect(s.P.outcome).toMatchObject({ kind: 'result', result: { rows: [] } });
    expect(s.P.sent.find((m) => m.type === 'labels')).toMatchObject({ labels: [] });
    expect(s.P.sent.find((m) => m.type === 'open' && m.stage === 'values')).toMatchObject({ values: new Uint8Array(0) });
  });

  // The aggregator computed the counts itself: count shares that reconstruct anything else are a forgery.
  it('the aggregator never opens a group under the minimum because of the partner\'s count shares', async () => {
    for (const query of [AGG, COUNT]) {
      const s = await run(query, onNth('Q', 'open:counts', 0, inflate), { collaboration: strict() });
      const labels = s.P.sent.find((m) => m.type === 'labels') as Extract<SessionMessage, { type: 'labels' }> | undefined;
      const values = s.P.sent.find((m) => m.type === 'open' && m.stage === 'values') as Extract<SessionMessage, { type: 'open' }> | undefined;
      // Either the forgery is detected (the aggregator fails), or it releases exactly what an honest run releases.
      if (s.P.outcome?.kind === 'failed') expect(failure(s.P)).toMatchObject({ code: 'PROTOCOL_VIOLATION', reason: 'shares-mismatch' });
      expect(labels?.labels ?? []).toEqual([]);
      expect(values?.values.length ?? 0).toBe(0);
    }
  });
});
