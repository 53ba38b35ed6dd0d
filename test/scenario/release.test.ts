import { describe, expect, it } from 'vitest';
import { decodeRingElements, encodeRingElements } from '../../src/crypto/shares.js';
import type { QueryPlan } from '../../src/query/plan.js';
import { releasedSlots } from '../../src/query/group-vector.js';
import { type Cell, type GroupAggregate, assembleResult } from '../../src/query/result.js';
import { Release, type ReleaseMessage, type ReleaseParams } from '../../src/session/release.js';
import type { Outcome, Step } from '../../src/session/step.js';
import { AGG_SQL, buildCollaboration, plan as planOf } from '../support/collaboration.js';

/**
 * The release stage on its own, for any number of holders and receivers: every member's `Release` in this
 * process, messages delivered in the order they were sent unless a test reorders them.
 */
const QUERY = 'ab'.repeat(16);
const MIN = 3;

async function aggPlan(): Promise<QueryPlan> {
  const { manifest } = buildCollaboration({ minDistinctKeys: { publisher: MIN, advertiser: MIN } });
  return planOf(AGG_SQL, manifest, 'advertiser');
}

interface Wire {
  readonly from: string;
  readonly to: string;
  readonly msg: ReleaseMessage;
}

class Net {
  readonly queue: Wire[] = [];
  readonly delivered: Wire[] = [];
  readonly outcomes: Record<string, Outcome> = {};

  constructor(readonly members: Readonly<Record<string, Release>>) {}

  take(from: string, step: Step): void {
    for (const e of step.send) this.queue.push({ from, to: e.to, msg: e.msg as ReleaseMessage });
    if (step.outcome) this.outcomes[from] = step.outcome;
  }

  deliver(w: Wire): void {
    this.delivered.push(w);
    this.take(w.to, this.members[w.to]!.receive(w.from, w.msg));
  }

  /** Delivers in order until nothing is left but the messages `hold` keeps back. */
  run(hold: (w: Wire) => boolean = () => false): void {
    for (let i = this.queue.findIndex((w) => !hold(w)); i >= 0; i = this.queue.findIndex((w) => !hold(w))) this.deliver(this.queue.splice(i, 1)[0]!);
  }

  /** The first queued message that matches, delivered now (possibly altered), ahead of the ones sent before it. */
  deliverFirst(match: (w: Wire) => boolean, edit: (msg: ReleaseMessage) => ReleaseMessage = (m) => m): void {
    const i = this.queue.findIndex(match);
    expect(i).toBeGreaterThanOrEqual(0);
    const w = this.queue.splice(i, 1)[0]!;
    this.deliver({ ...w, msg: edit(w.msg) });
  }
}

const channel = (from: string, to: string) => (w: Wire) => w.from === from && w.to === to;
const is = (from: string, to: string, kind: string) => (w: Wire) =>
  w.from === from && w.to === to && (w.msg.type === 'open' ? `open:${w.msg.stage}` : w.msg.type) === kind;

/** Per-group vectors [rows, keys, sum, rows summed]: this plan's width for SUM and AVG of one column. */
const group = (label: string, keys: number, sum: number): GroupAggregate => ({ labels: [label], values: [BigInt(keys + 1), BigInt(keys), BigInt(sum), BigInt(keys + 1)] });

function expected(plan: QueryPlan, groups: readonly GroupAggregate[]) {
  const cols = releasedSlots(plan);
  const kept = groups.filter((g) => g.values[1]! >= BigInt(MIN));
  return assembleResult(QUERY, plan, kept.map((g) => g.labels as Cell[]), kept.map((g) => cols.map((c) => g.values[c]!)));
}

async function soleDealer(): Promise<{ plan: QueryPlan; net: Net }> {
  const plan = await aggPlan();
  const base = { queryId: QUERY, plan, holders: ['d', 'a', 'b'], dealers: ['d'], receivers: ['d', 'b'], labelsFrom: 'd', labelsTo: ['b'], verifyCounts: true };
  const net = new Net(Object.fromEntries(base.holders.map((self) => [self, new Release({ ...base, self })])));
  for (const r of Object.values(net.members)) r.start();
  return { plan, net };
}

async function federated(): Promise<{ plan: QueryPlan; net: Net; params: Omit<ReleaseParams, 'self'> }> {
  const plan = await aggPlan();
  const params = {
    queryId: QUERY, plan, holders: ['h1', 'h2', 'h3'], dealers: ['h1', 'h2', 'h3'], receivers: ['h2', 'L'], labelsFrom: 'h1', labelsTo: ['L'],
    verifyCounts: false, domain: [['books'], ['toys'], ['music']],
  };
  const net = new Net(Object.fromEntries(['h1', 'h2', 'h3', 'L'].map((self) => [self, new Release({ ...params, self })])));
  for (const r of Object.values(net.members)) r.start();
  return { plan, net, params };
}

const DEALT = [group('books', 5, 120), group('toys', 2, 7), group('garden', 4, -30)];
const PARTS = { h1: [group('books', 2, 10), group('toys', 1, 3)], h2: [group('books', 1, 5), group('music', 4, 40)], h3: [group('toys', 1, 1)] };

describe('one dealer, three holders (two-party and joins of several)', () => {
  it('the receivers get the surviving groups, the holder that receives nothing is told it released', async () => {
    const { plan, net } = await soleDealer();
    net.take('d', net.members.d!.deal(DEALT));
    net.run();
    expect(net.outcomes.d).toEqual({ kind: 'result', result: expected(plan, DEALT) });
    expect(net.outcomes.b).toEqual(net.outcomes.d);
    // Only the receivers that took part: the audit log must not name a member that was sent nothing.
    expect(net.outcomes.a).toEqual({ kind: 'released', groups: 2, receivers: ['d', 'b'] });
    // The labels go to the receiver that does not know them, right after the dealer's values, and nowhere else.
    const toB = net.delivered.filter((w) => w.from === 'd' && w.to === 'b').map((w) => (w.msg.type === 'open' ? w.msg.stage : w.msg.type));
    expect(toB).toEqual(['shares', 'counts', 'values', 'labels']);
    expect(net.delivered.filter((w) => w.msg.type === 'labels').map((w) => w.to)).toEqual(['b']);
  });

  it('no group at all still exchanges one empty group', async () => {
    const { plan, net } = await soleDealer();
    net.take('d', net.members.d!.deal([]));
    net.run();
    expect(net.delivered.find((w) => w.msg.type === 'shares')?.msg).toMatchObject({ groups: 1 });
    expect(net.outcomes.b).toEqual({ kind: 'result', result: expected(plan, []) });
  });

  it('count shares that reconstruct other counts than the dealer computed', async () => {
    const { net } = await soleDealer();
    net.take('d', net.members.d!.deal(DEALT));
    net.run(channel('a', 'd'));
    const lie = (m: ReleaseMessage) => (m.type === 'open' ? { ...m, values: encodeRingElements(decodeRingElements(m.values).map((v) => v ^ 1n)) } : m);
    expect(() => net.deliverFirst(is('a', 'd', 'open:counts'), lie)).toThrow(expect.objectContaining({ reason: 'shares-mismatch' }));
  });
});

describe('every holder deals (a federated table), a receiver that holds nothing', () => {
  it('the holders add their shares; the listener gets the values from every holder and the labels from the first', async () => {
    const { plan, net, params } = await federated();
    for (const [h, groups] of Object.entries(PARTS)) net.take(h, net.members[h]!.deal(groups));
    net.run();
    const parts = Object.values(PARTS).flat();
    // SPEC §4.5: a group whose part at some holder is neither empty nor at the minimum is vetoed. books (2 at h1, 1
    // at h2) passes the minimum of 3 in total but at neither holder: only music (4 at h2 alone) is released.
    const vetoed = (label: Cell) => parts.some((g) => g.labels[0] === label && g.values[1]! > 0n && g.values[1]! < BigInt(MIN));
    const totals = params.domain!.map(([label]) => ({
      labels: [label!],
      values: [0, 1, 2, 3].map((c) => parts.filter((g) => g.labels[0] === label).reduce((t, g) => t + g.values[c]!, 0n)),
    })).filter((g) => !vetoed(g.labels[0]!));
    expect(net.outcomes.L).toEqual({ kind: 'result', result: expected(plan, totals) });
    expect(net.outcomes.h2).toEqual(net.outcomes.L);
    expect(net.outcomes.h1).toMatchObject({ kind: 'released', groups: 1 });
    expect(totals.map((g) => g.labels[0])).toEqual(['music']);
    expect(net.delivered.filter((w) => w.to === 'L').map((w) => `${w.from}:${w.msg.type}`).sort()).toEqual(['h1:labels', 'h1:open', 'h2:open', 'h3:open']);
  });

  it('a group outside the declared domain is refused before anything is shared', async () => {
    const { net } = await federated();
    expect(() => net.members.h1!.deal([group('garden', 9, 9)])).toThrow(expect.objectContaining({ code: 'DATA_INVALID' }));
  });
});

describe('one rule for messages out of order: what a member sends on one channel comes in that order', () => {
  it('count shares from a dealer before its shares', async () => {
    const { net } = await soleDealer();
    net.take('d', net.members.d!.deal(DEALT));
    expect(() => net.deliverFirst(is('d', 'a', 'open:counts'))).toThrow(expect.objectContaining({ reason: 'wrong-round' }));
  });

  it('value shares from a holder before its count shares', async () => {
    const { net } = await soleDealer();
    net.take('d', net.members.d!.deal(DEALT));
    net.run(channel('a', 'd'));
    expect(() => net.deliverFirst(is('a', 'd', 'open:values'))).toThrow(expect.objectContaining({ reason: 'wrong-round' }));
  });

  it('labels before the values of their sender', async () => {
    const { net } = await soleDealer();
    net.take('d', net.members.d!.deal(DEALT));
    net.run((w) => is('d', 'b', 'open:values')(w) || is('d', 'b', 'labels')(w));
    expect(() => net.deliverFirst(is('d', 'b', 'labels'))).toThrow(expect.objectContaining({ reason: 'wrong-round' }));
  });

  it('shares twice from one dealer, and shares before the release stage', async () => {
    const { net, params } = await federated();
    net.take('h1', net.members.h1!.deal(PARTS.h1));
    const shares = net.queue.find(is('h1', 'h2', 'shares'))!;
    net.deliver(shares);
    expect(() => net.deliver(shares)).toThrow(expect.objectContaining({ reason: 'repeated-message' }));
    expect(() => new Release({ ...params, self: 'h2' }).receive('h1', shares.msg)).toThrow(expect.objectContaining({ reason: 'wrong-round' }));
  });

  it('who may send what is checked whatever the round: counts to a listener, labels from a holder other than the first', async () => {
    const { net } = await federated();
    const counts: ReleaseMessage = { type: 'open', queryId: QUERY, stage: 'counts', values: encodeRingElements([0n, 0n, 0n]) };
    expect(() => net.members.L!.receive('h1', counts)).toThrow(expect.objectContaining({ reason: 'unexpected-message' }));
    expect(() => net.members.L!.receive('h2', { type: 'labels', queryId: QUERY, labels: [] })).toThrow(expect.objectContaining({ reason: 'unexpected-sender' }));
  });
});
