/**
 * Cancelling this node's own queries (src/node/cancel.ts): a cancel fails the wait at once with the CANCELLED reason,
 * and what the wait was for, when it comes later (a queue slot), is handed back rather than held.
 */
import { describe, expect, it } from 'vitest';
import { CleanroomError } from '../../src/errors.js';
import { Cancellations, untilCancelled } from '../../src/node/cancel.js';
import { QueryGate } from '../../src/node/query-gate.js';

describe('cancellations', () => {
  it('cancels a running query by its id with CANCELLED, and knows no other', () => {
    const c = new Cancellations();
    const q = c.begin('q1');
    expect(c.cancel('q2', 'ann')).toBe(false);
    expect(c.cancel('q1', 'ann')).toBe(true);
    expect(q.signal.aborted).toBe(true);
    expect(q.signal.reason).toBeInstanceOf(CleanroomError);
    expect((q.signal.reason as CleanroomError).code).toBe('CANCELLED');
    q.forget();
    expect(c.cancel('q1', 'ann')).toBe(false);
  });

  it('a query cancelled in line leaves it: the slot it would have got passes on', async () => {
    const gate = new QueryGate(1);
    const first = await gate.enter();
    const c = new Cancellations();
    const q = c.begin('q1');
    const waiting = untilCancelled(gate.enter(), q.signal, (release) => release());
    c.cancel('q1', 'ann');
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELLED' });
    first();
    // The cancelled waiter's slot was released as soon as it was admitted: a third query gets in at once.
    const third = await Promise.race([gate.enter(), new Promise<'blocked'>((r) => setTimeout(() => r('blocked'), 100))]);
    expect(third).not.toBe('blocked');
  });

  it('passes a result or a failure through when nothing is cancelled', async () => {
    const signal = new AbortController().signal;
    await expect(untilCancelled(Promise.resolve(7), signal)).resolves.toBe(7);
    await expect(untilCancelled(Promise.reject(new Error('no')), signal)).rejects.toThrow('no');
  });
});
