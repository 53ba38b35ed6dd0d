import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/crypto/backend.js';
import { hashToGroupDst } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { reconstruct } from '../../src/crypto/shares.js';
import type { Manifest, Table } from '../../src/manifest/schema.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery, type FederatedPlan } from '../../src/query/plan.js';
import { KEYS } from '../../src/query/group-vector.js';
import type { GroupAggregate } from '../../src/query/result.js';
import { FederatedSession } from '../../src/session/federated.js';
import type { Outcome, Step } from '../../src/session/step.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { SessionMessage } from '../../src/wire/messages.js';
import { computableOverlaps, differAtEveryPosition, pointHexes, ringValuesOf, streamOf } from '../support/curious.js';
import { completeBlinds } from '../support/local-driver.js';

/**
 * SPEC §7, federated lines: a federated table `ft` held by h1 and h2, on its own or joined with r's table `tr`, and a
 * member `aud` that holds nothing (a listener when it receives). Every member's FederatedSession runs in this
 * process, messages through the wire codec (the pattern of federated.test.ts); each test plays one member: it takes
 * what that member received, its own rows and its own PSI secrets, computes all it can, and checks it against the line.
 */
const ALONE = 'SELECT f.g, COUNT(*), SUM(f.v) FROM ft f GROUP BY f.g';
const JOINED = 'SELECT f.g, COUNT(*), SUM(f.v) FROM ft f JOIN tr r ON f.k = r.k GROUP BY f.g';
const HOLDERS = ['h1', 'h2'];
const MEMBERS = ['h1', 'h2', 'r', 'aud'];
/** The sum of v in a group vector: rows, distinct keys, the sum of v, the rows that have a v. */
const SUM = 2;
const DOMAIN = ['x', 'y', null];

function manifest(receivers: string[]): Manifest {
  const ft: Table = {
    name: 'ft',
    owner: 'h1',
    holders: HOLDERS,
    columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string', values: ['x', 'y'] }, { name: 'v', type: 'integer', min: 0, max: 1000 }],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: { aggregations: [{ column: 'v', functions: ['sum'] }], dimensions: ['g'], minDistinctKeys: 2, overlapDisclosure: [] },
  };
  const tr: Table = {
    name: 'tr',
    owner: 'r',
    columns: [{ name: 'k', type: 'string' }],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 2, overlapDisclosure: HOLDERS },
  };
  return {
    format: 'cleanroom-manifest/1',
    collaborationId: 'fed-leakage',
    name: 'fed-leakage',
    version: 1,
    members: MEMBERS.map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
    tables: [ft, tr],
    queriers: ['r', 'h1'],
    receivers,
  };
}

type Rows = Record<string, [string, string, number][]>;
/** Each holder's rows: key, group, value. z1 and z2 are not in r's table. */
const ROWS: Rows = {
  h1: [['a', 'x', 10], ['b', 'x', 20], ['c', 'y', 5], ['g', 'y', 2], ['z1', 'y', 99]],
  h2: [['d', 'x', 1], ['h', 'x', 4], ['e', 'y', 7], ['f', 'y', 8], ['z2', 'x', 50]],
};
const R_KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'other'];

interface Run {
  readonly outcomes: Record<string, Outcome>;
  /** Every message each member received, with its sender. */
  readonly received: Record<string, { from: string; msg: SessionMessage }[]>;
  readonly sent: Record<string, { to: string; msg: SessionMessage }[]>;
  /** Copies of every PSI secret of each member, in the order its machine drew them (the machines wipe their own). */
  readonly secrets: Record<string, QuerySecret[]>;
  /** What each holder's table answered to its `aggregate` request, by group label. */
  readonly own: Record<string, Map<string | null, bigint[]>>;
  readonly keys: Record<string, string[]>;
}

const group = selectBackend('noble');
const dst = hashToGroupDst('fed-leakage');
const hash = (keys: readonly string[]) => group.hashToGroup(keys.map((k) => new TextEncoder().encode(k)), dst);

async function run(sql: string, receivers: string[], rows: Rows = ROWS): Promise<Run> {
  const plan = planQuery(await parseQuery(sql), manifest(receivers), sql === JOINED ? 'r' : 'h1') as FederatedPlan;
  const queryId = 'ab'.repeat(16);
  const joined = plan.others.length > 0;
  const members = MEMBERS.filter((m) => HOLDERS.includes(m) || receivers.includes(m) || (joined && m === 'r'));
  const secrets: Record<string, QuerySecret[]> = Object.fromEntries(members.map((m) => [m, []]));
  const machines: Record<string, FederatedSession> = {};
  for (const self of members) {
    const newSecret = () => {
      const s = QuerySecret.generate();
      secrets[self]!.push(QuerySecret.fromBytes(s.bytes()));
      return s;
    };
    machines[self] = new FederatedSession({ queryId, plan, self, group, newSecret });
  }
  const keys: Record<string, string[]> = { h1: rows.h1!.map((r) => r[0]), h2: rows.h2!.map((r) => r[0]), r: R_KEYS };
  const outcomes: Record<string, Outcome> = {};
  const received: Run['received'] = Object.fromEntries(members.map((m) => [m, []]));
  const sent: Run['sent'] = Object.fromEntries(members.map((m) => [m, []]));
  const own: Run['own'] = {};
  const inbox: { from: string; to: string; bytes: Uint8Array }[] = [];
  const apply = (id: string, raw: Step): void => {
    const step = completeBlinds(machines[id]!, raw, group);
    for (const e of step.send) {
      sent[id]!.push(e);
      inbox.push({ from: id, to: e.to, bytes: encodeFrame(e.msg) });
    }
    if (step.aggregate) {
      const matched = step.aggregate === 'all' ? rows[id]!.map((_r, i) => i) : step.aggregate;
      const groups = new Map<string | null, bigint[]>([['x', [0n, 0n, 0n, 0n]], ['y', [0n, 0n, 0n, 0n]]]);
      for (const i of matched) {
        const [, g, v] = rows[id]![i]!;
        const [n, distinct, sum, valued] = groups.get(g)!;
        groups.set(g, [n! + 1n, distinct! + 1n, sum! + BigInt(v), valued! + 1n]);
      }
      own[id] = groups;
      const aggs: GroupAggregate[] = [...groups].map(([g, values]) => ({ labels: [g], values }));
      apply(id, machines[id]!.aggregates(aggs));
    }
    if (step.outcome) outcomes[id] ??= step.outcome;
  };
  for (const id of members) {
    apply(id, machines[id]!.start());
    if (!machines[id]!.keyed) continue;
    apply(id, machines[id]!.ownKeyCount(keys[id]!.length));
    apply(id, machines[id]!.ownHashed(hash(keys[id]!)));
    apply(id, machines[id]!.ownEnd());
  }
  for (let n = 0; inbox.length > 0 && n < 10_000; n++) {
    const { from, to, bytes } = inbox.shift()!;
    if (outcomes[to]) continue;
    const msg = decodeFrame(bytes, SessionMessage, 'session');
    received[to]!.push({ from, msg });
    apply(to, machines[to]!.receive(from, msg));
  }
  return { outcomes, received, sent, secrets, own, keys };
}

const from = (r: Run, to: string, sender: string) => r.received[to]!.filter((x) => x.from === sender).map((x) => x.msg);
const kindsOf = (ms: readonly SessionMessage[]) => [...new Set(ms.map((m) => ('stage' in m ? `${m.type}:${m.stage}` : m.type)))].sort();

/**
 * The total distinct-key count of every group as holder `self` reconstructs it: the count shares it opened itself
 * (its own part minus what it dealt away, plus what the other holder dealt it) and those the other holder opened.
 */
function totalsSeenBy(r: Run, self: string, peer: string): bigint[] {
  const mine = ringValuesOf(r.sent[self]!.filter((e) => e.to === peer).map((e) => e.msg), 'open', 'counts');
  const theirs = ringValuesOf(from(r, self, peer), 'open', 'counts');
  expect(mine).toHaveLength(DOMAIN.length);
  return DOMAIN.map((_g, i) => reconstruct([mine[i]!, theirs[i]!]));
}

/** A holder's true count and sum of one group, from its rows (the test's knowledge, not a member's). */
const truth = (rows: Rows, holder: string, g: string, keys?: readonly string[]) => {
  const mine = rows[holder]!.filter(([k, gg]) => gg === g && (!keys || keys.includes(k)));
  return { keys: BigInt(mine.length), sum: BigInt(mine.reduce((a, [, , v]) => a + v, 0)) };
};

describe('§7 federated', () => {
  it('§7 federated, each holder: every group\'s total distinct-key count, hence the other holder\'s; not its sums: the shares it holds change every run', async () => {
    const [first, second] = [await run(ALONE, ['aud']), await run(ALONE, ['aud'])];
    for (const r of [first, second]) {
      expect(r.outcomes.h1).toMatchObject({ kind: 'released', groups: 2 });
      // A holder that does not receive gets the other holder's shares and its count shares: no value, no label.
      expect(kindsOf(from(r, 'h1', 'h2'))).toEqual(['open:counts', 'shares']);
      const totals = totalsSeenBy(r, 'h1', 'h2');
      expect(totals).toEqual(['x', 'y'].map((g) => truth(ROWS, 'h1', g).keys + truth(ROWS, 'h2', g).keys).concat([0n]));
      // Minus its own count: the other holder's count (the line says so: with two holders, it is theirs).
      expect(['x', 'y'].map((g, i) => totals[i]! - r.own.h1!.get(g)![KEYS]!)).toEqual(['x', 'y'].map((g) => truth(ROWS, 'h2', g).keys));
    }
    // h2's sums reach h1 only as the share h2 dealt it: uniform, drawn afresh, so every one differs between two runs
    // over the same rows (equal by chance with probability 2^-128 each).
    expect(differAtEveryPosition(ringValuesOf(from(first, 'h1', 'h2'), 'shares'), ringValuesOf(from(second, 'h1', 'h2'), 'shares'))).toBe(true);
  });

  it('§7 federated, each holder: a vetoed group shows that it was vetoed and by about how many holders, not the small part\'s count', async () => {
    const veto = 1n << 100n;
    // y: h1 holds one person (c), h2 two; then both hold one.
    const oneSmall: Rows = { h1: ROWS.h1!.filter(([k]) => k !== 'g' && k !== 'z1'), h2: ROWS.h2! };
    const bothSmall: Rows = { h1: oneSmall.h1!, h2: ROWS.h2!.filter(([k]) => k !== 'f') };
    const seen: bigint[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await run(ALONE, ['aud'], oneSmall);
      const y = totalsSeenBy(r, 'h2', 'h1')[1]!;
      // About one veto: -2^100 minus a 64-bit amount, plus counts far below 2^64.
      expect(-y / veto).toBe(1n);
      seen.push(y);
      expect(r.outcomes.aud).toMatchObject({ kind: 'result', result: { rows: [['x', expect.anything(), expect.anything()]] } });
    }
    // The same rows, two runs: two different totals, so h2's total minus its own count names no count of h1's.
    expect(seen[0]).not.toBe(seen[1]);
    const both = await run(ALONE, ['aud'], bothSmall);
    expect(-totalsSeenBy(both, 'h2', 'h1')[1]! / veto).toBe(2n);
  });

  it('§7 federated, a receiver: the surviving totals; holding a part, it subtracts its own and gets the other holder\'s sums', async () => {
    const r = await run(ALONE, ['h1']);
    const o = r.outcomes.h1;
    if (o?.kind !== 'result') throw new Error(JSON.stringify(o));
    expect(o.result.rows.map((row) => row.map(String))).toEqual([['x', '5', '85'], ['y', '5', '121']]);
    // Total minus its own part: exactly h2's sum per group, as the line says a receiver holding a part can do.
    const others = o.result.rows.map((row) => BigInt(String(row[2])) - r.own.h1!.get(row[0] as string)![SUM]!);
    expect(others).toEqual(['x', 'y'].map((g) => truth(ROWS, 'h2', g).sum));
  });

  it('§7 federated, a receiver that holds nothing: value shares from every holder and the labels, the totals, nothing else', async () => {
    const [first, second] = [await run(ALONE, ['aud']), await run(ALONE, ['aud'])];
    for (const r of [first, second]) {
      expect(kindsOf(from(r, 'aud', 'h1'))).toEqual(['labels', 'open:values']);
      expect(kindsOf(from(r, 'aud', 'h2'))).toEqual(['open:values']);
      expect(r.outcomes.aud).toMatchObject({ kind: 'result', result: { rows: [['x', 5, '85'], ['y', 5, '121']] } });
    }
    // Each holder's opened shares are fresh every run: the listener cannot split a total into the holders' parts.
    for (const h of HOLDERS) expect(differAtEveryPosition(ringValuesOf(from(first, 'aud', h), 'open', 'values'), ringValuesOf(from(second, 'aud', h), 'open', 'values'))).toBe(true);
  });
});

describe('§7 federated join', () => {
  it('§7 federated join, each holder: which of its own keys are in B\'s set and |B\'|; nothing of B\'s other keys or the other holder\'s', async () => {
    const r = await run(JOINED, ['aud']);
    expect(r.outcomes.aud?.kind).toBe('result');
    for (const [h, peer] of [['h1', 'h2'], ['h2', 'h1']] as const) {
      const fromB = from(r, h, 'r');
      expect(pointHexes(streamOf(fromB, 'q'))).toHaveLength(R_KEYS.length);
      const [a] = r.secrets[h]!;
      // From the wire alone: the returned points come in its own order; position i matches when its i-th key is B's.
      const qa = new Set(pointHexes(group.blind(a!, streamOf(fromB, 'q'))));
      const matched = pointHexes(streamOf(fromB, 'pq')).flatMap((p, i) => (qa.has(p) ? [r.keys[h]![i]!] : []));
      expect(matched).toEqual(r.keys[h]!.filter((k) => R_KEYS.includes(k)));
      // Guessing B's other keys (the other holder's among them) finds nothing.
      const guesses = [...R_KEYS.filter((k) => !r.keys[h]!.includes(k)), ...r.keys[peer]!];
      const found = computableOverlaps(group, { 'own H(k)': hash(r.keys[h]!), 'guessed H(k)': hash(guesses), q: streamOf(fromB, 'q'), pq: streamOf(fromB, 'pq') }, [a!]);
      expect(found).toEqual({ 'q ~ pq': matched.length });
      // The totals it computes cover matched rows only; the other holder's count follows, as on its own.
      const totals = totalsSeenBy(r, h, peer);
      expect(totals.slice(0, 2)).toEqual(['x', 'y'].map((g) => truth(ROWS, 'h1', g, R_KEYS).keys + truth(ROWS, 'h2', g, R_KEYS).keys));
    }
  });

  it('§7 federated join, B (the joined member): each holder\'s |H_j\'|; no value, no match, nothing linking the holders\' keys', async () => {
    const r = await run(JOINED, ['aud']);
    expect(r.outcomes.r).toEqual({ kind: 'released', groups: 0, receivers: ['aud'] });
    for (const h of HOLDERS) {
      expect(kindsOf(from(r, 'r', h))).toEqual(['points-end:p', 'points:p']);
      expect(pointHexes(streamOf(from(r, 'r', h), 'p'))).toHaveLength(ROWS[h]!.length);
    }
    expect(r.received.r!.every((x) => x.msg.type === 'points' || x.msg.type === 'points-end')).toBe(true);
    // One secret per holder's PSI: with both, B links neither holder's points to its own keys, to guesses of the
    // holders' keys outside its table, or to each other.
    expect(r.secrets.r).toHaveLength(2);
    const found = computableOverlaps(
      group,
      { 'own H(k)': hash(R_KEYS), 'guessed H(k)': hash(['z1', 'z2']), 'p from h1': streamOf(from(r, 'r', 'h1'), 'p'), 'p from h2': streamOf(from(r, 'r', 'h2'), 'p') },
      r.secrets.r!,
    );
    expect(found).toEqual({});
  });
});
