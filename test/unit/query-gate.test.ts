import { describe, expect, it } from 'vitest';
import { CleanroomError } from '../../src/errors.js';
import { PeerQueryGates, QueryGate } from '../../src/node/query-gate.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('QueryGate: how many queries a node runs at once', () => {
  it('runs up to the limit at once and queues the rest first come, first served', async () => {
    const gate = new QueryGate(2);
    const order: string[] = [];
    const a = await gate.enter();
    const b = await gate.enter();
    const heard: Record<string, number[]> = { c: [], d: [] };
    const c = gate.enter((n) => heard.c!.push(n)).then((r) => (order.push('c'), r));
    const d = gate.enter((n) => heard.d!.push(n)).then((r) => (order.push('d'), r));
    await tick();
    expect(order).toEqual([]);
    expect(heard).toEqual({ c: [2], d: [3] });
    a();
    const releaseC = await c;
    expect(order).toEqual(['c']);
    expect(heard.d).toEqual([3, 2]);
    b();
    const releaseD = await d;
    expect(order).toEqual(['c', 'd']);
    releaseC();
    releaseD();
    // Every slot is free again: the limit's worth enter at once.
    await gate.enter();
    await gate.enter();
  });

  it('never admits more than the limit, even when a slot is freed and a newcomer arrives at once', async () => {
    const gate = new QueryGate(1);
    const first = await gate.enter();
    const queued = gate.enter();
    first();
    // The freed slot went to the one in line: a newcomer must wait, and a refusal must say so.
    expect(() => gate.tryEnter('alpha')).toThrow(CleanroomError);
    const late = gate.enter();
    let lateIn = false;
    void late.then(() => (lateIn = true));
    (await queued)();
    (await late)();
    expect(lateIn).toBe(true);
  });

  it('a release twice frees one slot only', async () => {
    const gate = new QueryGate(1);
    const r = await gate.enter();
    r();
    r();
    gate.tryEnter('alpha');
    expect(() => gate.tryEnter('alpha')).toThrow(/limit of 1 concurrent/);
  });

  it('refuses a peer beyond the limit with LIMIT_EXCEEDED', () => {
    const gate = new QueryGate(1);
    gate.tryEnter('alpha');
    try {
      gate.tryEnter('alpha');
      expect.unreachable();
    } catch (err) {
      expect((err as CleanroomError).code).toBe('LIMIT_EXCEEDED');
    }
  });

  it("one member cannot take every peer slot: its own limit is reached first, and the others still get in", () => {
    const gates = new PeerQueryGates(4, 2);
    const held = [gates.tryEnter('alpha'), gates.tryEnter('alpha')];
    expect(() => gates.tryEnter('alpha')).toThrow(/alpha already runs its limit of 2/);
    const gamma = [gates.tryEnter('gamma'), gates.tryEnter('gamma')];
    expect(() => gates.tryEnter('delta')).toThrow(/the collaboration already runs its limit of 4/);
    // A refusal by the total gives the member's own slot back.
    held[0]!();
    gates.tryEnter('alpha');
    gamma[0]!();
    gates.tryEnter('delta');
  });
});
