/** A graceful stop's drain (src/node/drain.ts): new queries refused, running ones waited for up to the grace. */
import { describe, expect, it } from 'vitest';
import { QueryDrain } from '../../src/node/drain.js';

describe('the drain of a stopping node', () => {
  it('resolves at once when nothing runs, and refuses every new query after', async () => {
    const drain = new QueryDrain();
    expect(await drain.stop(10_000)).toBe(0);
    expect(() => drain.enter()).toThrow(expect.objectContaining({ code: 'ABORTED' }));
    expect(() => drain.refuseIfStopping()).toThrow(/stopping/);
  });

  it('waits for the running queries to end, however many', async () => {
    const drain = new QueryDrain();
    const [a, b] = [drain.enter(), drain.enter()];
    expect(drain.size).toBe(2);
    let done = false;
    const stopped = drain.stop(10_000).then((left) => ((done = true), left));
    a();
    a(); // a second release of one query counts once
    await new Promise((r) => setTimeout(r, 5));
    expect(done).toBe(false);
    b();
    expect(await stopped).toBe(0);
  });

  it('gives up after the grace, or when cut short, and says how many still run', async () => {
    const drain = new QueryDrain();
    drain.enter();
    expect(await drain.stop(20)).toBe(1);
    const other = new QueryDrain();
    other.enter();
    expect(await other.stop(60_000, Promise.resolve())).toBe(1);
  });
});
