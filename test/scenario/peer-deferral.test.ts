/**
 * The partner reads none of the aggregator's batches while its own set is being blinded (SPEC §4.2 step 3, §6: the
 * driver reads no further peer message while `deferringPeers`): the flag follows the round, and a query whose
 * aggregator's whole stream arrives only once the partner's set is out ends as one delivered as it came.
 */
import { describe, expect, it } from 'vitest';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, buildCollaboration } from '../support/collaboration.js';
import { makeData } from '../support/datasets.js';
import type { Machine } from '../../src/session/step.js';
import { Scenario, runScenario } from './harness.js';

const data = makeData({ seed: 23, publisherPeople: [0, 90], advertiserPeople: [45, 140], publisherRows: 120, advertiserRows: 130 });
const collaboration = buildCollaboration();

describe('the partner defers the aggregator\'s stream until its own set is out', () => {
  it.each([
    ['aggregate', AGG_SQL, ADVERTISER],
    ['count-only', COUNT_SQL, PUBLISHER],
  ])('%s: deferring from the start until the own set is blinded, then not; the same outcomes as interleaved', async (_mode, sql, querier) => {
    const queryId = 'cd'.repeat(16);
    const interleaved = await runScenario({ collaboration, sql, querier, data, backend: 'sodium', queryId });
    const s = await Scenario.create({ collaboration, sql, querier, data, backend: 'sodium', batchKeys: 8, queryId });
    const deferring = (role: 'P' | 'Q') => (s.party(role).machine as Machine).deferringPeers ?? false;
    expect(deferring('Q')).toBe(true);
    expect(deferring('P')).toBe(false);
    // P's whole stream is in flight and unread while Q blinds its own set batch by batch.
    s.feedAll('P');
    expect(s.queues.P.length).toBeGreaterThan(2);
    while (s.Q.pendingBatches.length > 0) {
      s.feedOne('Q');
      expect(deferring('Q')).toBe(true);
    }
    s.feedOne('Q');
    expect(deferring('Q')).toBe(false);
    s.run();
    expect(s.P.outcome?.kind).toBe('result');
    for (const role of ['P', 'Q'] as const) expect(s.party(role).outcome).toStrictEqual(interleaved.party(role).outcome);
  });
});
