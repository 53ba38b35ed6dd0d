import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/crypto/backend.js';
import { hashToGroupDst } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { seededRandom } from '../../src/dp/random-source.js';
import { PSI_BATCH_KEYS } from '../../src/limits.js';
import type { QueryPlan } from '../../src/query/plan.js';
import { AggregatorSession } from '../../src/session/aggregator.js';
import { PartnerSession } from '../../src/session/partner.js';
import type { BlindRequest, Outcome, Step } from '../../src/session/step.js';
import { paddedSize } from '../../src/transport/frame-padding.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { SessionMessage } from '../../src/wire/messages.js';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, TEST_POLICY, buildCollaboration, plan as planOf } from '../support/collaboration.js';
import { pointHexes, streamOf } from '../support/curious.js';
import { CATEGORIES, cleanData, type Dataset } from '../support/datasets.js';
import { completeBlinds } from '../support/local-driver.js';
import { aggregateMatched, distinctKeys } from '../support/memory-tables.js';

/**
 * Issue 17, item 2: padded set sizes must not leak through timing (SPEC §2, §7, §10.2). These tests play the peer and
 * a network observer of a real two-party run in this process. Each member's multiplications are modelled as its
 * worker pool would run them: a point stream's frame leaves when the multiplications that made it are done, so the
 * time at which a frame leaves is measured in the member's own multiplications finished before it (a multiplication
 * of a padding point costs what one of a key costs). What the assertions depend on (padding counts and slots, noise)
 * comes from fixed seeds; the padding points themselves are fresh, and could sway a verdict only by equalling a
 * blinded key (probability about 2^-240).
 */

const group = selectBackend('sodium');

type Role = 'P' | 'Q';

interface Frame {
  readonly msg: SessionMessage;
  /** The padded plaintext size of the sealed frame: what a network observer sees of it. */
  readonly wireBytes: number;
  /** This member's own multiplications finished when the frame left: its time on the worker pool's clock. */
  readonly ownDone: number;
}

interface Member {
  readonly role: Role;
  readonly name: string;
  readonly plan: QueryPlan;
  readonly machine: AggregatorSession | PartnerSession;
  /** A copy of the member's scalar: the test recomputes its blinded keys to tell them from padding. */
  readonly secretBytes: Uint8Array;
  readonly keys: readonly string[];
  readonly batches: string[][];
  ownEnded: boolean;
  /** Blind requests waiting for the pool, oldest first, and whether each is for this member's own set. */
  readonly work: { readonly req: BlindRequest; readonly own: boolean }[];
  /** The multiplications of each own request, in request order. */
  readonly ownRequests: number[];
  ownDone: number;
  readonly frames: Frame[];
  readonly inbox: SessionMessage[];
  matched?: readonly number[];
  outcome?: Outcome;
}

interface RunOptions {
  readonly sql: string;
  readonly querier: string;
  readonly data: Dataset;
  /** Seeds of each member's random source (its padding and dummies). */
  readonly seeds: Readonly<Record<Role, string>>;
  /** Only P runs: its own stream, without a peer. */
  readonly alone?: boolean;
}

const collaboration = buildCollaboration({ privacy: { advertiser: TEST_POLICY }, categoryValues: [...CATEGORIES] });
const dst = hashToGroupDst(collaboration.manifest.collaborationId);
const hash = (keys: readonly string[]) => group.hashToGroup(keys.map((k) => new TextEncoder().encode(k)), dst);
const people = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** Multiplications a request asks for: one per point, one per padding point. */
function units(req: BlindRequest): number {
  return req.points.length / 32 + (req.padding?.length ?? 0);
}

/**
 * Both members' machines as their drivers run them (src/node/driver.ts): own keys in batches of PSI_BATCH_KEYS, blind
 * requests answered in request order, messages through the wire codec, P's `aggregate` answered from the tables.
 */
async function run(o: RunOptions): Promise<Record<Role, Member>> {
  const plan = await planOf(o.sql, collaboration.manifest, o.querier);
  const queryId = 'ab'.repeat(16);
  const pName = plan.aggregator.table.owner;
  const qName = plan.others[0]!.table.owner;
  const make = (role: Role): Member => {
    const secretBytes = Uint8Array.from({ length: 32 }, (_, i) => i + (role === 'P' ? 1 : 101));
    const params = { queryId, plan, self: role === 'P' ? pName : qName, peer: role === 'P' ? qName : pName, group, secret: QuerySecret.fromBytes(secretBytes), random: seededRandom(o.seeds[role]) };
    const keys = distinctKeys(role === 'P' ? plan.aggregator : plan.others[0]!, o.data);
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += PSI_BATCH_KEYS) batches.push(keys.slice(i, i + PSI_BATCH_KEYS));
    const machine = role === 'P' ? new AggregatorSession(params) : new PartnerSession(params);
    return { role, name: params.self, plan, machine, secretBytes, keys, batches, ownEnded: false, work: [], ownRequests: [], ownDone: 0, frames: [], inbox: [] };
  };
  const m: Record<Role, Member> = { P: make('P'), Q: make('Q') };
  const other = (x: Member) => (x.role === 'P' ? m.Q : m.P);

  const take = (x: Member, step: Step, own: boolean): void => {
    for (const e of step.send) {
      const bytes = encodeFrame(e.msg);
      x.frames.push({ msg: e.msg, wireBytes: paddedSize(e.msg.type, bytes.length), ownDone: x.ownDone });
      if (!o.alone) other(x).inbox.push(decodeFrame(bytes, SessionMessage, 'session'));
    }
    for (const req of step.blind ?? []) {
      x.work.push({ req, own });
      if (own) x.ownRequests.push(units(req));
    }
    if (step.aggregate && step.aggregate !== 'all') {
      x.matched = step.aggregate;
      const side = x.plan.aggregator;
      const given = aggregateMatched(side, x.plan.groupBy, x.plan.sumColumns, step.aggregate.map((i) => x.keys[i]!), o.data);
      take(x, x.machine.aggregates(given), false);
    }
    if (step.outcome) x.outcome ??= step.outcome;
  };
  /** One event's step, then the pool works through every waiting request, in order. */
  const event = (x: Member, step: Step, own: boolean): void => {
    take(x, step, own);
    while (x.work.length > 0 && !x.outcome) {
      const { req, own: mine } = x.work.shift()!;
      if (mine) x.ownDone += units(req);
      take(x, completeBlinds(x.machine, { send: [], blind: [req] }, group), false);
    }
  };
  const feed = (x: Member): boolean => {
    if (x.ownEnded || x.outcome) return false;
    const batch = x.batches.shift();
    if (batch) event(x, x.machine.ownHashed(hash(batch)), true);
    else {
      x.ownEnded = true;
      event(x, x.machine.ownEnd(), true);
    }
    return true;
  };
  const deliver = (x: Member): boolean => {
    const msg = x.inbox.shift();
    if (!msg || x.outcome) return false;
    event(x, x.machine.receive(other(x).name, msg), false);
    return true;
  };

  const members = o.alone ? [m.P] : [m.P, m.Q];
  for (const x of members) event(x, x.machine.start(), false);
  for (const x of members) event(x, x.machine.ownKeyCount(x.keys.length), true);
  for (let events = 0; events < 1_000_000; events++) {
    let progressed = false;
    for (const x of members) progressed = feed(x) || progressed;
    for (const x of members) progressed = deliver(x) || progressed;
    if (!progressed) break;
  }
  return m;
}

/** The points of a member's `points` frames of one stage, one array of hex per frame. */
function framePoints(x: Member, stage: 'p' | 'q'): string[][] {
  return x.frames.flatMap((f) => (f.msg.type === 'points' && f.msg.stage === stage ? [pointHexes(f.msg.points)] : []));
}

/** How many padding points each frame of P's stream carries: the points that are none of P's keys blinded. */
function paddingPerFrame(x: Member): number[] {
  const keys = new Set(pointHexes(group.blind(QuerySecret.fromBytes(x.secretBytes), hash(x.keys))));
  return framePoints(x, 'p').map((points) => points.filter((h) => !keys.has(h)).length);
}

/** The aggregate query, the advertiser (P) with `n` keys under its policy, the publisher (Q) with 600, 300 shared. */
const aggregateData = (n: number): Dataset => cleanData(people(n - 300, 600), people(0, n));

/** How many padding points P's seeded random source makes it add: its own stream alone, on a small set. */
async function paddingOf(seed: string): Promise<number> {
  const { P } = await run({ sql: AGG_SQL, querier: ADVERTISER, data: aggregateData(400), seeds: { P: seed, Q: 'unused' }, alone: true });
  return framePoints(P, 'p').flat().length - P.keys.length;
}

describe('P, the aggregator, pads its stream (SPEC §10.2): what its peer and a network observer see does not depend on its real size', () => {
  const REAL = 10_000;
  let runs: { a: Record<Role, Member>; b: Record<Role, Member> };
  let padding: { a: number; b: number };

  beforeAll(async () => {
    // Two seeds whose padding counts differ, and two real sizes that make the padded totals equal.
    const seeds = { a: 'padding-timing a', b: '' };
    const a = await paddingOf(seeds.a);
    let b = a;
    for (let i = 0; b === a; i++) b = await paddingOf((seeds.b = `padding-timing b${i}`));
    padding = { a, b };
    expect(Math.min(a, b)).toBeGreaterThan(0);
    runs = {
      a: await run({ sql: AGG_SQL, querier: ADVERTISER, data: aggregateData(REAL), seeds: { P: seeds.a, Q: 'q' } }),
      b: await run({ sql: AGG_SQL, querier: ADVERTISER, data: aggregateData(REAL + a - b), seeds: { P: seeds.b, Q: 'q' } }),
    };
  }, 120_000);

  it('(a) two real sizes with one padded total: the same frames, leaving at the same points of P\'s work, the padding from batch 0', () => {
    const { a, b } = runs;
    expect(a.P.keys.length).toBe(REAL);
    expect(b.P.keys.length).toBe(REAL + padding.a - padding.b);
    // The stream P sends up to its end marker, as an observer sees it (kind and sealed size) and as the pool's clock
    // times it (own multiplications done when each frame left).
    const view = (x: Member) => {
      const end = x.frames.findIndex((f) => f.msg.type === 'points-end' && f.msg.stage === 'p');
      return x.frames.slice(0, end + 1).map((f) => ({ kind: `${f.msg.type}:${'stage' in f.msg ? f.msg.stage : ''}`, wireBytes: f.wireBytes, ownDone: f.ownDone }));
    };
    expect(view(b.P)).toEqual(view(a.P));
    // The work P asked of its pool for its own set, request by request.
    expect(b.P.ownRequests).toEqual(a.P.ownRequests);
    // The batch where the padding begins, which only P (or a test holding P's secret) can find.
    const first = (x: Member) => paddingPerFrame(x).findIndex((n) => n > 0);
    expect(first(a.P)).toBe(0);
    expect(first(b.P)).toBe(0);
  });

  it('(b) with 10,000 real keys the padding is in every batch, not after the real keys, and P still aggregates exactly its matched keys', () => {
    const { P, Q } = runs.a;
    const perFrame = paddingPerFrame(P);
    expect(perFrame).toHaveLength(Math.ceil((REAL + padding.a) / PSI_BATCH_KEYS));
    expect(perFrame.every((n) => n > 0)).toBe(true);
    expect(perFrame.reduce((s, n) => s + n, 0)).toBe(padding.a);
    // Every frame but the last is full: no batch boundary marks where the real keys end.
    expect(framePoints(P, 'p').slice(0, -1).every((f) => f.length === PSI_BATCH_KEYS)).toBe(true);
    // The matched indices skip the padding: they name exactly P's keys that Q holds.
    const qKeys = new Set(Q.keys);
    expect([...P.matched!].map((i) => P.keys[i]!).sort()).toEqual(P.keys.filter((k) => qKeys.has(k)).sort());
    expect(P.outcome?.kind).toBe('result');
    expect(Q.outcome?.kind).toBe('result');
  });
});

describe('Q, the partner, streams its set as it is blinded, its padding and dummies among it (SPEC §4.2 step 1, §10.2, §10.3)', () => {
  /** Count-only, the publisher (P, no policy) with 500 keys; the advertiser (Q, policy) with `n`, 250 shared. */
  const countData = (n: number): Dataset => cleanData(people(n - 250, 500), people(0, n));

  it('(c) Q\'s first frame follows the one batch of multiplications it carries, whatever Q\'s real or padded size', async () => {
    for (const [n, seed] of [[6_000, 'q one'], [9_000, 'q two']] as const) {
      const { P, Q } = await run({ sql: COUNT_SQL, querier: PUBLISHER, data: countData(n), seeds: { P: 'p', Q: seed } });
      expect(Q.keys.length).toBe(n);
      expect(P.outcome?.kind).toBe('result');
      const frames = framePoints(Q, 'q');
      const sent = frames.flat().length;
      // The dummy slots (SPEC §10.3): what Q returns beyond P's points. Q draws them once, before its first batch.
      const slots = streamOf(Q.frames.map((f) => f.msg), 'pq').length / 32 - streamOf(P.frames.map((f) => f.msg), 'p').length / 32;
      const padding = sent - n - slots;
      expect(padding).toBeGreaterThan(0);
      expect(slots).toBeGreaterThan(0);
      const first = Q.frames.find((f) => f.msg.type === 'points' && f.msg.stage === 'q')!;
      // Its first request, a whole batch of the stream, raised before the first frame left, and no more.
      expect(first.ownDone).toBe(PSI_BATCH_KEYS);
      // One request per frame, every one full but the last, one multiplication a point whatever it is (a dummy slot
      // is made as padding and overwritten): no batch's time tells how many keys, padding points or dummies it holds.
      expect(frames.slice(0, -1).every((f) => f.length === PSI_BATCH_KEYS)).toBe(true);
      expect(Q.ownRequests).toEqual(frames.map((f) => f.length));
      expect(Q.ownRequests.reduce((s, u) => s + u, 0)).toBe(n + padding + slots);
    }
  });
});
