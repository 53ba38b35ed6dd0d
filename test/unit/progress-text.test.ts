/**
 * The query progress the CLI prints (src/cli/progress-text.ts) and the tracker behind it (src/node/progress.ts): a
 * terminal gets one line redrawn in place, a pipe one line per change of stage and never a `\r`; time left is
 * estimated only from a measured rate against a known total.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProgressLine, durationText, progressText } from '../../src/cli/progress-text.js';
import type { ProgressEvent } from '../../src/control/control-event.js';
import { PROGRESS_INTERVAL_MS, PROGRESS_MIN_RATE_MS } from '../../src/limits.js';
import { ProgressTracker, estimateMs, type ProgressView } from '../../src/node/progress.js';

const QID = 'ab'.repeat(16);
const running = (view: Partial<ProgressEvent['view']> & Pick<NonNullable<ProgressEvent['view']>, 'step'>): ProgressEvent => ({
  type: 'progress',
  queryId: QID,
  stage: 'psi',
  ownKeys: 0,
  view: { elapsedMs: 12_000, peers: [], ...view },
});

function sink(): { text: () => string; write: (s: string) => void } {
  let text = '';
  return { text: () => text, write: (s: string) => void (text += s) };
}

describe('progress text', () => {
  it('states the step with counts against the total, the time left, and the peer as far as known', () => {
    const e = running({ step: 'blinding-own', done: 40_960, total: 100_000, etaMs: 18_000, peers: [{ member: 'bob', activity: 'sending-points', done: 8_192 }] });
    expect(progressText(e)).toBe('12 s: blinding own keys 40,960 of 100,000, about 18 s left; bob: its points 8,192');
    expect(progressText(running({ step: 'hashing', done: 4096, peers: [{ member: 'bob', activity: 'returning-points', done: 40_960, total: 100_000 }] }))).toBe(
      '12 s: hashing own keys into the cache 4,096; bob: our points back 40,960 of 100,000',
    );
    expect(progressText({ type: 'progress', stage: 'queued', ownKeys: 0, ahead: 2 })).toMatch(/^queued: 2 of this node's queries/);
    expect(durationText(65_000)).toBe('1 min 5 s');
    expect(durationText(3_720_000)).toBe('1 h 2 min');
  });

  it('on a terminal: one line redrawn in place with \\r, cut to its width, ended by a newline', () => {
    const out = sink();
    const line = new ProgressLine(out, true, 40);
    line.show(running({ step: 'hashing', done: 4096 }));
    line.show(running({ step: 'hashing', done: 8192 }));
    line.end();
    const text = out.text();
    expect(text.split('\r')).toHaveLength(3);
    expect(text.endsWith('\n')).toBe(true);
    for (const drawn of text.split('\r').slice(1)) expect(drawn.replace('\x1b[K', '').trimEnd().length).toBeLessThanOrEqual(39);
  });

  it('elsewhere: one line per change of stage, step or peer activity, and never a \\r', () => {
    const out = sink();
    const line = new ProgressLine(out, false);
    line.show(running({ step: 'hashing', done: 4096 }));
    line.show(running({ step: 'hashing', done: 8192 }));
    line.show(running({ step: 'blinding-own', done: 4096, total: 10_000 }));
    line.show(running({ step: 'blinding-own', done: 8192, total: 10_000, peers: [{ member: 'bob', activity: 'blinding' }] }));
    line.show(running({ step: 'blinding-own', done: 9000, total: 10_000, peers: [{ member: 'bob', activity: 'blinding' }] }));
    line.end();
    expect(out.text()).not.toContain('\r');
    expect(out.text().trimEnd().split('\n')).toEqual([
      '12 s: hashing own keys into the cache 4,096',
      '12 s: blinding own keys 4,096 of 10,000',
      '12 s: blinding own keys 8,192 of 10,000; bob: blinding our points',
    ]);
  });

  it('estimates time left from the rate since the step began, only once it is measurable and the total known', () => {
    expect(estimateMs(25, 100, 10_000)).toBe(30_000);
    expect(estimateMs(100, 100, 10_000)).toBe(0);
    expect(estimateMs(25, undefined, 10_000)).toBeUndefined();
    expect(estimateMs(0, 100, 10_000)).toBeUndefined();
    expect(estimateMs(25, 100, PROGRESS_MIN_RATE_MS - 1)).toBeUndefined();
  });
});

describe('the progress tracker', () => {
  afterEach(() => vi.useRealTimers());

  it('moves through the steps in order, reports each change at once and counts at most once per interval', () => {
    vi.useFakeTimers();
    let now = 0;
    const views: ProgressView[] = [];
    const t = new ProgressTracker('ann', ['bob'], (v) => views.push(v), () => now);
    t.ownKeys(8192);
    t.hashing(4096);
    t.hashing(4096);
    expect(views.map((v) => v.step)).toEqual(['reading', 'hashing']);
    t.blindStarted(true, 4096);
    now = PROGRESS_MIN_RATE_MS;
    t.blindDone(true, 4096);
    vi.advanceTimersByTime(PROGRESS_INTERVAL_MS);
    expect(views.at(-1)).toMatchObject({ step: 'blinding-own', done: 4096, total: 8192, etaMs: PROGRESS_MIN_RATE_MS });
    t.received('bob', { type: 'points', queryId: QID, stage: 'p', seq: 0, points: new Uint8Array(32 * 100) });
    expect(t.view().peers).toEqual([{ member: 'bob', activity: 'sending-points', done: 100 }]);
    t.received('bob', { type: 'points-end', queryId: QID, stage: 'p', batches: 1, count: 100 });
    t.sentTo('bob', { type: 'points-end', queryId: QID, stage: 'q', batches: 2, count: 8192 });
    expect(t.view().peers).toEqual([{ member: 'bob', activity: 'blinding' }]);
    // A later step never goes back: the peer's points blinded after this node's own are the next step.
    t.blindStarted(false, 100);
    t.blindStarted(true, 4096);
    t.ownStreamEnded();
    t.blindDone(true, 4096);
    expect(t.view()).toMatchObject({ step: 'blinding-peer', done: 0, total: 100 });
    t.aggregating();
    t.hashing(1);
    expect(t.view().step).toBe('aggregating');
    const before = views.length;
    vi.advanceTimersByTime(PROGRESS_INTERVAL_MS * 4);
    expect(views.length - before).toBe(4);
    t.end();
    vi.advanceTimersByTime(PROGRESS_INTERVAL_MS * 4);
    expect(views.length - before).toBe(4);
  });

  it('a listener that throws never reaches the query', () => {
    const t = new ProgressTracker('ann', [], () => {
      throw new Error('client gone');
    });
    expect(() => t.aggregating()).not.toThrow();
    t.end();
  });
});
