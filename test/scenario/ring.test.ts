import { type GroupAggregate } from '../../src/query/result.js';
import { describe, expect, it } from 'vitest';
import { SessionMessage } from '../../src/wire/messages.js';
import { groupBackends } from '../../src/crypto/backend.js';
import { hashToGroupDst, type PsiGroup } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import type { Manifest, Table } from '../../src/manifest/schema.js';
import { RingSession } from '../../src/session/ring.js';
import type { Outcome, Step } from '../../src/session/step.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery } from '../../src/query/plan.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';

/**
 * Joins of three and four members, every party's RingSession in this process over in-memory pipes, messages
 * through the wire codec. Each member's keys are plain strings; the aggregator's rows carry a group and a value.
 */
const POLICY = { epsilon: 1, delta: 1e-7, maxRowsPerKey: 1, budget: { epsilon: 10, refresh: 'never' as const } };

const table = (name: string, owner: string, disclose: string[], agg = false, privacy = false): Table => ({
  name,
  owner,
  columns: agg ? [{ name: 'k', type: 'string' }, { name: 'g', type: 'string' }, { name: 'v', type: 'integer', min: 0, max: 1000 }] : [{ name: 'k', type: 'string' }],
  joinKey: { column: 'k', normalization: 'exact' },
  rules: { aggregations: agg ? [{ column: 'v', functions: ['sum', 'avg'] }] : [], dimensions: agg ? ['g'] : [], minDistinctKeys: 2, overlapDisclosure: disclose, ...(privacy ? { privacy: POLICY } : {}) },
});

function manifest(members: string[], privacy = false): Manifest {
  return {
    format: 'cleanroom-manifest/1',
    collaborationId: 'ring',
    name: 'ring',
    version: 1,
    members: members.map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64).slice(0, 64) })),
    tables: [table('tp', members[0]!, [], true, privacy), ...members.slice(1).map((m) => table(`t_${m}`, m, [members[0]!]))],
    queriers: members,
    receivers: [members[0]!, members[1]!],
  };
}

interface Run {
  secrets: Record<string, QuerySecret[]>;
  outcomes: Record<string, Outcome>;
  /** Every message each member received, with its sender. */
  received: Record<string, { from: string; msg: SessionMessage }[]>;
}

async function run(members: string[], keys: Record<string, string[]>, sql: string, group: PsiGroup, rows: Map<string, { g: string; v: number }>, privacy = false): Promise<Run> {
  const m = manifest(members, privacy);
  const plan = planQuery(await parseQuery(sql), m, members[0]!);
  const queryId = 'ab'.repeat(16);
  const dst = hashToGroupDst('ring');
  const sessions: Record<string, RingSession> = {};
  const secrets: Record<string, QuerySecret> = {};
  // Copies of every member's secrets, for the leakage test to play that member (the sessions wipe their own).
  const witness: Record<string, QuerySecret[]> = {};
  for (const id of members) {
    const bytes = QuerySecret.generate();
    secrets[id] = QuerySecret.fromBytes(bytes.bytes());
    witness[id] = [QuerySecret.fromBytes(bytes.bytes())];
    let extra: QuerySecret | undefined;
    if (id === members[0]) {
      const t = QuerySecret.generate();
      extra = QuerySecret.fromBytes(t.bytes());
      witness[id]!.push(t);
    }
    sessions[id] = new RingSession({ queryId, plan, self: id, group, secret: secrets[id]!, ...(extra ? { extra } : {}) });
  }
  const outcomes: Record<string, Outcome> = {};
  const received: Run['received'] = Object.fromEntries(members.map((id) => [id, []]));
  const inbox: { from: string; to: string; bytes: Uint8Array }[] = [];
  const ownKeys: Record<string, string[]> = {};

  const apply = (id: string, step: Step): void => {
    for (const e of step.send) inbox.push({ from: id, to: e.to, bytes: encodeFrame(e.msg) });
    for (const req of step.blind ?? []) {
      if (outcomes[id]) return;
      let next: Step;
      try {
        next = sessions[id]!.blinded(group.blind(req.secret, req.points));
      } catch (err) {
        next = sessions[id]!.fail(err);
      }
      apply(id, next);
    }
    if (step.aggregate) {
      if (step.aggregate === 'all') throw new Error('a ring member aggregates its matched rows only');
      // The aggregator's rows, matched by index into its key order.
      const matched = step.aggregate.map((i) => ownKeys[id]![i]!);
      const groups = new Map<string, { rows: number; sum: number }>();
      for (const k of matched) {
        const r = rows.get(k)!;
        const g = groups.get(r.g) ?? { rows: 0, sum: 0 };
        g.rows += 1;
        g.sum += r.v;
        groups.set(r.g, g);
      }
      const aggs: GroupAggregate[] = [...groups.entries()].sort().map(([g, x]) => ({
        labels: [g],
        values: [BigInt(x.rows), BigInt(x.rows), ...(plan.sumColumns.length > 0 ? [BigInt(x.sum), BigInt(x.rows)] : [])],
      }));
      apply(id, sessions[id]!.aggregates(aggs));
    }
    if (step.outcome) outcomes[id] ??= step.outcome;
  };

  for (const id of members) {
    ownKeys[id] = [...new Set(keys[id]!)].sort();
    const hashed = group.hashToGroup(ownKeys[id]!.map((k) => new TextEncoder().encode(k)), dst);
    for (let off = 0; off < hashed.length; off += 32 * 7) apply(id, sessions[id]!.ownHashed(hashed.slice(off, off + 32 * 7)));
    apply(id, sessions[id]!.ownEnd());
  }
  while (inbox.length > 0) {
    const { from, to, bytes } = inbox.shift()!;
    if (outcomes[to]) continue;
    const msg = decodeFrame(bytes, SessionMessage, 'session');
    received[to]!.push({ from, msg });
    apply(to, sessions[to]!.receive(from, msg));
  }
  for (const id of members) expect(secrets[id]!.isZeroed).toBe(true);
  return { outcomes, received, secrets: witness };
}

const range = (a: number, b: number, prefix = 'k') => Array.from({ length: b - a }, (_, i) => `${prefix}${a + i}`);

describe.each(groupBackends().map((g) => [g.name, g] as const))('joins of three and four members (%s)', (_n, group) => {
  it('three members: count-only counts the keys in all three sets', async () => {
    const keys = { p: range(0, 60), c: range(20, 80), d: range(30, 100) };
    const r = await run(['p', 'c', 'd'], keys, 'SELECT COUNT(*) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k', group, new Map());
    expect(r.outcomes.p).toMatchObject({ kind: 'result', result: { rows: [[30]] } });
    expect(r.outcomes.c).toMatchObject({ kind: 'result', result: { rows: [[30]] } });
    expect(r.outcomes.d).toMatchObject({ kind: 'released' });
  });

  it('four members: GROUP BY with SUM and AVG over the aggregator\'s rows in the four-way intersection', async () => {
    const keys = { p: range(0, 80), c: range(10, 90), d: range(0, 60), e: [...range(5, 70), 'k77'] };
    const rows = new Map(keys.p.map((k) => [k, { g: `g${Number(k.slice(1)) % 3}`, v: Number(k.slice(1)) }]));
    const r = await run(
      ['p', 'c', 'd', 'e'],
      keys,
      'SELECT tp.g, COUNT(*), SUM(tp.v), AVG(tp.v) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k JOIN t_e ON tp.k = t_e.k GROUP BY tp.g',
      group,
      rows,
    );
    const inAll = range(10, 60).map((k) => Number(k.slice(1)));
    const expected = [0, 1, 2].map((g) => {
      const vs = inAll.filter((v) => v % 3 === g);
      const sum = vs.reduce((a, b) => a + b, 0);
      return [`g${g}`, vs.length, String(sum), (sum / vs.length).toFixed(6)];
    });
    expect(r.outcomes.p).toMatchObject({ kind: 'result', result: { rows: expected } });
    expect(r.outcomes.c).toMatchObject({ kind: 'result', result: { rows: expected } });
    expect(r.outcomes.d).toMatchObject({ kind: 'released' });
    expect(r.outcomes.e).toMatchObject({ kind: 'released' });
    // Labels and value shares reach receivers only.
    for (const id of ['d', 'e']) expect(r.received[id]!.filter((x) => x.msg.type === 'labels' || (x.msg.type === 'open' && x.msg.stage === 'values'))).toEqual([]);
  });
});

describe('the combiner (SPEC §4.4, issue 10)', () => {
  it('is the first other table in the manifest\'s order whose owner is not the querier, whatever the FROM order', async () => {
    const m = manifest(['p', 'c', 'd']);
    const combinerOf = async (sql: string, querier: string) => planQuery(await parseQuery(sql), m, querier).others[0]!.table.owner;
    // Count-only asked by p: c comes first in the manifest, in either FROM order.
    expect(await combinerOf('SELECT COUNT(*) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k', 'p')).toBe('c');
    expect(await combinerOf('SELECT COUNT(*) FROM tp JOIN t_d ON tp.k = t_d.k JOIN t_c ON tp.k = t_c.k', 'p')).toBe('c');
    // Asked by c (p aggregates): c would hold d's set and learn its own overlap with it; d combines instead.
    const grouped = 'SELECT tp.g, COUNT(*) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k GROUP BY tp.g';
    expect(await combinerOf(grouped, 'c')).toBe('d');
    expect(await combinerOf(grouped, 'd')).toBe('c');
  });
});

describe('singleton probing in a join of three (SPEC §7, issue 10)', () => {
  it('a querier that narrows its own set to one key is refused by the first member its set reaches; nothing is opened', async () => {
    const group = groupBackends().at(-1)!;
    // p's only key in its filtered set is k5; it asks whether c and d both have that person.
    const keys = { p: ['k5'], c: range(0, 40), d: range(0, 40) };
    const r = await run(['p', 'c', 'd'], keys, 'SELECT COUNT(*) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k', group, new Map());
    const refusals = Object.values(r.outcomes).filter((o) => o.kind === 'failed' && o.error.code === 'RULE_VIOLATION' && (o.error as { rule?: string }).rule === 'minDistinctKeys');
    expect(refusals.length).toBeGreaterThan(0);
    for (const o of Object.values(r.outcomes)) expect(o.kind).toBe('failed');
    for (const id of ['p', 'c', 'd']) expect(r.received[id]!.some((x) => x.msg.type === 'open' || x.msg.type === 'shares')).toBe(false);
  });
});

describe('under a privacy policy (SPEC §10)', () => {
  it('a join of three tables is refused before anything runs: the combiner would hold exact intersection sizes', async () => {
    const sql = 'SELECT tp.g, COUNT(*), SUM(tp.v) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k GROUP BY tp.g';
    await expect(parseQuery(sql).then((q) => planQuery(q, manifest(['p', 'c', 'd'], true), 'p'))).rejects.toMatchObject({ code: 'RULE_VIOLATION', rule: 'tp.rules.privacy' });
  });
});

describe('what each member could compute from what it received (SPEC §7)', () => {
  const group = groupBackends().at(-1)!;
  /** Every point collection a member received, by sender, set and stage. */
  function collections(r: Run, id: string): Map<string, Uint8Array[]> {
    const out = new Map<string, Uint8Array[]>();
    for (const { from, msg } of r.received[id]!) {
      if (msg.type !== 'ring') continue;
      const key = `${msg.set}/${msg.stage} from ${from}`;
      const list = out.get(key) ?? [];
      for (let off = 0; off < msg.points.length; off += 32) list.push(msg.points.subarray(off, off + 32));
      out.set(key, list);
    }
    return out;
  }
  /** The collection under every product of the member's own secrets it could apply. */
  function variants(points: Uint8Array[], secrets: QuerySecret[]): Set<string>[] {
    const subsets: QuerySecret[][] = [[]];
    for (const s of secrets) subsets.push(...subsets.map((x) => [...x, s]));
    return subsets.map((sub) => new Set(points.map((p) => Buffer.from(sub.reduce((acc, s) => group.blind(s, acc), p as Uint8Array)).toString('hex'))));
  }
  const overlap = (a: Set<string>, b: Set<string>) => [...a].filter((x) => b.has(x)).length;

  it('three members with overlapping sets: only the documented intersections are computable', async () => {
    const keys = { p: range(0, 40), c: range(10, 50), d: range(20, 60) };
    const rows = new Map(keys.p.map((k) => [k, { g: 'g', v: 1 }]));
    const r = await run(['p', 'c', 'd'], keys, 'SELECT tp.g, COUNT(*) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k GROUP BY tp.g', group, rows);
    if (r.outcomes.p?.kind === "failed") throw r.outcomes.p.error;
    expect(r.outcomes.p).toMatchObject({ kind: 'result', result: { rows: [['g', 20]] } });
    const found: Record<string, Record<string, number>> = {};
    for (const id of ['p', 'c', 'd']) {
      const cols = [...collections(r, id).entries()];
      found[id] = {};
      for (let i = 0; i < cols.length; i++) {
        for (let j = i + 1; j < cols.length; j++) {
          const [a, b] = [variants(cols[i]![1], r.secrets[id]!), variants(cols[j]![1], r.secrets[id]!)];
          const best = Math.max(...a.flatMap((x) => b.map((y) => overlap(x, y))));
          if (best > 0) found[id]![`${cols[i]![0]} ~ ${cols[j]![0]}`] = best;
        }
      }
    }
    // P: its own keys in the three-way intersection (20), nothing about a single other member's set.
    expect(found.p).toEqual({ 'p/final from d ~ */final from c': 20 });
    // C, the combiner: the size of the others' intersection |C ∩ D| = 30, from its own final set and D's set raised to
    // its secret (it is D's set's last hop). Nothing involving P's set.
    expect(Object.entries(found.c!)).toEqual([[expect.stringMatching(/^(c\/final from d ~ d\/hop from p|d\/hop from p ~ c\/final from d)$/), 30]]);
    // D: nothing at all.
    expect(found.d).toEqual({});
  });
});

describe('receivers as the manifest says', () => {
  it('a member that is no receiver refuses value shares and labels sent to it', async () => {
    const m = manifest(['p', 'c', 'd']);
    const plan = planQuery(await parseQuery('SELECT COUNT(*) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k'), m, 'p');
    const d = new RingSession({ queryId: 'ab'.repeat(16), plan, self: 'd', group: groupBackends()[0]!, secret: QuerySecret.generate() });
    const step = d.receive('p', { type: 'labels', queryId: 'ab'.repeat(16), labels: [] });
    expect(step.outcome).toMatchObject({ kind: 'failed', error: { code: 'PROTOCOL_VIOLATION', reason: 'unexpected-message' } });
    expect(step.send.map((e) => [e.to, e.msg.type, 'reason' in e.msg && e.msg.reason])).toEqual([['p', 'abort', 'unexpected-message'], ['c', 'abort', 'unexpected-message']]);
  });
});

describe('sets that are not a member\'s', () => {
  it('a hop batch naming no member of the query is refused', async () => {
    const m = manifest(['p', 'c', 'd']);
    const plan = planQuery(await parseQuery('SELECT COUNT(*) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k'), m, 'p');
    const c = new RingSession({ queryId: 'ab'.repeat(16), plan, self: 'c', group: groupBackends()[0]!, secret: QuerySecret.generate() });
    const step = c.receive('p', { type: 'ring', queryId: 'ab'.repeat(16), set: 'zzz', stage: 'hop', seq: 0, points: new Uint8Array(32).fill(9) });
    expect(step.outcome).toMatchObject({ kind: 'failed', error: { code: 'PROTOCOL_VIOLATION', reason: 'unexpected-message' } });
  });
});

describe('members out of turn (SPEC §4.4)', () => {
  const QUERY = 'ab'.repeat(16);
  const points = new Uint8Array(32).fill(9);
  /** Member `self` of a three-member count-only join, handed one message from `from`: the reason it refuses it. */
  async function refusal(self: string, from: string, msg: SessionMessage): Promise<unknown> {
    const plan = planQuery(await parseQuery('SELECT COUNT(*) FROM tp JOIN t_c ON tp.k = t_c.k JOIN t_d ON tp.k = t_d.k'), manifest(['p', 'c', 'd']), 'p');
    const step = new RingSession({ queryId: QUERY, plan, self, group: groupBackends()[0]!, secret: QuerySecret.generate() }).receive(from, msg);
    expect(step.send.every((e) => e.msg.type === 'abort' && e.msg.code === 'PROTOCOL_VIOLATION')).toBe(true);
    return step.outcome?.kind === 'failed' && 'reason' in step.outcome.error ? step.outcome.error.reason : step.outcome;
  }

  it('a set from a member that is not the hop before on its path', async () => {
    // d's set goes d → p → c: c takes it from p only.
    expect(await refusal('c', 'd', { type: 'ring', queryId: QUERY, set: 'd', stage: 'hop', seq: 0, points })).toBe('unexpected-sender');
    expect(await refusal('c', 'p', { type: 'ring', queryId: QUERY, set: 'd', stage: 'hop', seq: 1, points })).toBe('skipped-batch');
  });

  it('the intersection on a blinding hop, shares from a member that is not the aggregator, a sender outside the query', async () => {
    expect(await refusal('d', 'c', { type: 'ring', queryId: QUERY, set: '*', stage: 'hop', seq: 0, points })).toBe('unexpected-message');
    expect(await refusal('d', 'c', { type: 'shares', queryId: QUERY, groups: 1, width: 2, values: new Uint8Array(32) })).toBe('unexpected-sender');
    expect(await refusal('d', 'zzz', { type: 'open', queryId: QUERY, stage: 'counts', values: new Uint8Array(16) })).toBe('unexpected-sender');
  });

  it('shares before the set intersection is done, and another query', async () => {
    expect(await refusal('d', 'p', { type: 'shares', queryId: QUERY, groups: 1, width: 2, values: new Uint8Array(32) })).toBe('wrong-round');
    expect(await refusal('d', 'p', { type: 'ring', queryId: 'cd'.repeat(16), set: 'p', stage: 'hop', seq: 0, points })).toBe('wrong-query');
  });
});
