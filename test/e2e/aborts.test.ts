import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, DEFAULT_AUDIT_FILE } from '../../src/audit/audit-log.js';
import { NO_QUERY_ID, type WireMessage } from '../../src/wire/messages.js';
import { COUNT_SQL, startFuzzCluster, type FuzzCluster } from '../support/fuzz-cluster.js';
import { Insider, type InsiderEvent } from '../support/insider.js';
import { NodeWatch, rssMiB } from '../support/node-watch.js';

/**
 * How a node ends a connection that misbehaves (SPEC §6), seen by an insider holding a member's real key: exactly
 * one `abort` per failure and never a `bye` after it, an `abort` (under the id of no query) even before any
 * proposal, and a peer's abort text written to the node's log on one escaped line.
 */
const WAIT_MS = 5_000;
/** 4 MiB frames sent on a connection nobody reads: 160 MiB that must stay with the sender. */
const FLOOD_FRAMES = 40;

const messages = (i: Insider): WireMessage[] => i.events.flatMap((e: InsiderEvent) => (e.kind === 'message' ? [e.msg] : []));

describe('aborts a node sends and receives', () => {
  let fc: FuzzCluster;
  const dial = () => Insider.connect({ url: fc.url, identity: fc.insider, manifest: fc.manifest, manifestHash: fc.hash, peer: 'beta' });

  beforeAll(async () => {
    fc = await startFuzzCluster('aborts');
  });
  afterAll(async () => {
    await fc?.stop();
  });

  it('a first message that is no proposal: one abort under the id of no query, then the close; no bye', async () => {
    const i = await dial();
    i.send({ type: 'accept', queryId: randomBytes(16).toString('hex') });
    expect(await i.waitFor((e) => e.kind === 'closed', WAIT_MS)).toBeDefined();
    expect(messages(i)).toEqual([{ type: 'abort', queryId: NO_QUERY_ID, code: 'PROTOCOL_VIOLATION', reason: 'unexpected-message', message: expect.stringContaining('expected a proposal') }]);
  });

  it('a violation in the session: exactly one abort with its code, nothing after it', async () => {
    const i = await dial();
    const queryId = randomBytes(16).toString('hex');
    i.send({ type: 'propose', queryId, querier: 'alpha', sql: COUNT_SQL });
    expect(await i.waitFor((e) => e.kind === 'message' && e.msg.type === 'accept', WAIT_MS)).toBeDefined();
    // Shares during PSI are a message of the wrong round.
    i.send({ type: 'shares', queryId, groups: 1, width: 2, values: new Uint8Array(32) });
    expect(await i.waitFor((e) => e.kind === 'closed', WAIT_MS)).toBeDefined();
    const after = messages(i).slice(messages(i).findIndex((m) => m.type === 'accept') + 1);
    const aborts = after.filter((m) => m.type === 'abort');
    expect(aborts).toEqual([{ type: 'abort', queryId, code: 'PROTOCOL_VIOLATION', reason: 'wrong-round', message: expect.any(String) }]);
    expect(after.at(-1)).toEqual(aborts[0]);
    expect(after.some((m) => m.type === 'bye')).toBe(false);
    // The node's audit log names the rule the peer broke (SPEC §8), as a verified re-blinding's bad-proof would be.
    const failed = async () => (await AuditLog.read(join(fc.cluster.nodeDirs.beta!, DEFAULT_AUDIT_FILE))).find((e) => e.queryId === queryId && e.event === 'failed');
    // Written as the session ends, which may come just after the close: looked for until WAIT_MS.
    for (const until = Date.now() + WAIT_MS; !(await failed()) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    expect((await failed())?.detail).toMatch(/^PROTOCOL_VIOLATION \(wrong-round\): /);
  });

  it("a peer's abort text reaches the log capped, on one line, with its escapes escaped", async () => {
    const i = await dial();
    const queryId = randomBytes(16).toString('hex');
    i.send({ type: 'propose', queryId, querier: 'alpha', sql: COUNT_SQL });
    expect(await i.waitFor((e) => e.kind === 'message' && e.msg.type === 'accept', WAIT_MS)).toBeDefined();
    const forged = '[2026-01-01T00:00:00.000Z] query 0 done: result saved';
    i.send({ type: 'abort', queryId, code: 'EVIL\nCODE', message: `oops\n${forged}\u001b[2K${'x'.repeat(1500)}` });
    expect(await i.waitFor((e) => e.kind === 'closed', WAIT_MS)).toBeDefined();
    const log = fc.cluster.nodes.beta!.log.join('');
    const line = log.split('\n').find((l) => l.includes(queryId) && l.includes('oops'));
    expect(line, log).toBeDefined();
    expect(line).toContain('\\u{a}[2026-01-01T00:00:00.000Z]');
    expect(line).toContain('\\u{1b}[2K');
    expect(line).not.toContain('EVIL');
    expect(line!.length).toBeLessThan(700);
    expect(log.split('\n').some((l) => l.startsWith(forged))).toBe(false);
    await fc.expectCorrectAnswers();
  });

  it('a peer that sends what nobody takes (a parked join flooded with 4 MiB frames) holds its own memory, not the node\'s', async () => {
    const node = fc.cluster.nodes.beta!.process;
    const before = rssMiB(node.pid!);
    const watch = new NodeWatch(node);
    const i = await dial();
    i.send({ type: 'join', queryId: randomBytes(16).toString('hex') });
    const big = { type: 'shares', queryId: randomBytes(16).toString('hex'), groups: 1, width: 2, values: new Uint8Array(4_000_000) };
    for (let n = 0; n < FLOOD_FRAMES; n++) i.send(big);
    // Time for the node to read whatever it would read.
    await new Promise((r) => setTimeout(r, 3_000));
    watch.stop();
    i.close();
    expect(watch.exit).toBeUndefined();
    expect(watch.maxRssMiB - before).toBeLessThan(FLOOD_FRAMES * 4 / 2);
    await fc.expectCorrectAnswers();
  });
});
