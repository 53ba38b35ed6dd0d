import { describe, expect, it } from 'vitest';
import { CleanroomError } from '../../src/errors.js';
import { KEEPALIVE_MS } from '../../src/limits.js';
import { SessionControl } from '../../src/node/session-control.js';
import type { PeerConnection } from '../../src/transport/connection.js';
import type { WireMessage } from '../../src/wire/messages.js';

const QUERY = 'ab'.repeat(16);

/** A connection that records what this member sends, as the peer receives it. */
function recording(): { conn: PeerConnection; sent: WireMessage[] } {
  const sent: WireMessage[] = [];
  return { sent, conn: { send: async (m: WireMessage) => void sent.push(m) } as unknown as PeerConnection };
}

describe('SessionControl keepalives (SPEC §6; §7 every flow, every member)', () => {
  it('a peer watching them learns the query id and that work went on, at most once per KEEPALIVE_MS, however much progressed', async () => {
    const { conn, sent } = recording();
    const control = new SessionControl(QUERY, new Map([['peer', conn]]));
    const started = Date.now();
    // 20,000 batches finishing within about three keepalive periods: the count sent follows time, not work.
    while (Date.now() - started < 3 * KEEPALIVE_MS) for (let i = 0; i < 1000; i++) control.progressed();
    const elapsed = Date.now() - started;
    control.settle({ kind: 'failed', error: new CleanroomError('ABORTED', 'the test ends the session') });
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThanOrEqual(Math.floor(elapsed / KEEPALIVE_MS) + 1);
    for (const m of sent) expect(m).toStrictEqual({ type: 'keepalive', queryId: QUERY });
  });

  it('sends none once the session has settled', () => {
    const { conn, sent } = recording();
    const control = new SessionControl(QUERY, new Map([['peer', conn]]));
    control.settle({ kind: 'failed', error: new CleanroomError('ABORTED', 'the test ends the session') });
    control.progressed();
    expect(sent).toEqual([]);
  });
});
