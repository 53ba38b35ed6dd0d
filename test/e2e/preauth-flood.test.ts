/**
 * A flood of unauthenticated connections at a member's peer port while queries run through it (issue 22, item 1):
 * thousands of connections a second from addresses of their own, some of them sending a hello that claims the
 * querier's identity. The pre-auth pool closes flood connections to make room, but never a member's connection whose
 * hello it admitted, nor an established channel: every query completes with the right answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDSHAKE_TIMEOUT_MS, MAX_CLAIMED_HANDSHAKES_PER_SOURCE, MAX_UNAUTHENTICATED_CONNECTIONS } from '../../src/limits.js';
import { startFlood, type FloodStats } from '../support/connection-flood.js';
import { COUNT_SQL, GROUP_SQL, startFuzzCluster, type FuzzCluster } from '../support/fuzz-cluster.js';
import { NodeWatch } from '../support/node-watch.js';

const QUERIES = 20;
/** 60 connections every 10 ms: thousands a second, far past what the pool holds, as in the issue. */
const PER_TICK = 60;
const TICK_MS = 10;
/**
 * The flood stops by itself at whichever comes first; the queries take a few seconds on an idle machine, and the
 * time cap leaves them room at a 3x slowdown. Connections are bounded too: each held one is a descriptor of this
 * process, and each closed one a port in TIME_WAIT.
 */
const FLOOD_MAX_MS = 30_000;
const FLOOD_MAX_CONNECTIONS = 60_000;
const FLOOD_MAX_OPEN = 2_000;
/**
 * One connection in this many sends a hello claiming alpha (it cannot sign, so its handshake never ends), all from
 * one attacker address: it may hold MAX_CLAIMED_HANDSHAKES_PER_SOURCE of alpha's places, and the rest stay alpha's.
 */
const CLAIM_EVERY = 50;
const CLAIM_FROM = '127.0.0.2';
/** Two attacker addresses, neither alpha's (127.0.0.1). */
const FLOOD_FROM = ['127.0.0.2', '127.0.0.3'];

describe('a flood of unauthenticated connections (live node process)', () => {
  let fc: FuzzCluster;

  beforeAll(async () => {
    fc = await startFuzzCluster('preauth-flood');
  });
  afterAll(async () => {
    await fc?.stop();
  });

  it(`${QUERIES} queries one after the other while ${PER_TICK} connections arrive every ${TICK_MS} ms: every one completes with the right answer`, async () => {
    const beta = fc.cluster.nodes.beta!;
    const watch = new NodeWatch(beta.process);
    const flood = startFlood({
      port: fc.port,
      from: FLOOD_FROM,
      perTick: PER_TICK,
      tickMs: TICK_MS,
      maxConnections: FLOOD_MAX_CONNECTIONS,
      maxMs: FLOOD_MAX_MS,
      maxOpen: FLOOD_MAX_OPEN,
      claim: { every: CLAIM_EVERY, from: CLAIM_FROM, member: 'alpha', collaborationId: fc.manifest.collaborationId, manifestHash: fc.hash },
    });
    const wrong: string[] = [];
    let floodEnded = false;
    void flood.done.then(() => (floodEnded = true));
    let underFlood = 0;
    const started = Date.now();
    let stats: FloodStats;
    try {
      // Let the flood fill the pool first: the queries meet it full.
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < QUERIES; i++) {
        const problem = await fc.wrongAnswer(i % 2 === 0 ? COUNT_SQL : GROUP_SQL);
        if (problem !== undefined) wrong.push(`query ${i}: ${problem}`);
        if (!floodEnded) underFlood++;
      }
    } finally {
      stats = await flood.stop();
      watch.stop();
    }
    console.log(
      `preauth-flood: ${QUERIES - wrong.length}/${QUERIES} queries right in ${Date.now() - started} ms (${underFlood} while the flood ran); ` +
        `flood: ${stats.opened} connections opened (${stats.claims} claiming alpha), ${stats.connected} accepted, ${stats.closedByNode} closed by the node, ${stats.ms} ms; ` +
        `beta ${watch.exit ?? 'alive'}, max RSS ${watch.maxRssMiB.toFixed(0)} MiB` +
        (wrong.length > 0 ? `\n  ${wrong.join('\n  ')}` : ''),
    );
    expect(watch.exit, 'the node process exited').toBeUndefined();
    // The flood was real: the node had to close far more connections than its pool holds.
    expect(stats.closedByNode).toBeGreaterThan(10 * MAX_UNAUTHENTICATED_CONNECTIONS);
    expect(underFlood, 'queries that ran while the flood did').toBeGreaterThanOrEqual(QUERIES / 4);
    expect(wrong).toEqual([]);
    const log = beta.log.join('');
    // The attacker's claims filled its share of alpha's places, and the node refused the rest of them.
    expect(log).toContain(`hello refused: ${MAX_CLAIMED_HANDSHAKES_PER_SOURCE} connections from this source claiming alpha are in their handshake already`);
    expect(log).not.toContain('internal error');
  }, FLOOD_MAX_MS + 3 * HANDSHAKE_TIMEOUT_MS + 30_000);
});
