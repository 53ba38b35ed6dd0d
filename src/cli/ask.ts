import { CANCEL_WAIT_MS, PROGRESS_QUIET_MS } from '../limits.js';
import { CleanroomError, errorMessage } from '../errors.js';
import { cancelQuery, controlEndpoint, submitQuery } from '../control/control-client.js';
import type { ControlEvent } from '../control/control-event.js';
import type { QueryResult } from '../query/result.js';
import { ProgressLine } from './progress-text.js';

export type Answer = { readonly kind: 'result'; readonly result: QueryResult } | { readonly kind: 'released'; readonly event: Extract<ControlEvent, { type: 'released' }> };

/**
 * Submits `sql` to the node running in `dir` and waits for its answer; the queue and the query's progress go to
 * stderr once a query takes long enough to wonder about. A refusal or failure throws with the node's code.
 * The first Ctrl-C asks the node to cancel the query (every member aborts it; nothing is released) and waits up to
 * CANCEL_WAIT_MS for the abort; a second one exits at once.
 */
export async function ask(dir: string, sql: string): Promise<Answer> {
  const endpoint = await controlEndpoint(dir);
  const started = Date.now();
  const slow = () => Date.now() - started > PROGRESS_QUIET_MS;
  const line = new ProgressLine(process.stderr, process.stderr.isTTY === true, process.stderr.columns);
  let queryId: string | undefined;
  let cancelAsked = false;
  let giveUp: (err: Error) => void = () => {};
  const gaveUp = new Promise<never>((_, reject) => (giveUp = reject));
  gaveUp.catch(() => {});
  const sendCancel = (id: string) => {
    line.say(`cancelling query ${id}: waiting up to ${CANCEL_WAIT_MS / 1000} s for every member to abort it (Ctrl-C again exits at once)`);
    cancelQuery(endpoint, id).then(
      // Ended already: its outcome is on its way down the stream, and is what this command reports.
      (a) => !a.cancelled && line.say(`query ${id} had ended already when the cancel reached the node`),
      (err: unknown) => giveUp(new CleanroomError('CANCELLED', `the cancel did not reach the node: ${errorMessage(err)}`)),
    );
    setTimeout(() => giveUp(new CleanroomError('TIMEOUT', `the node did not confirm within ${CANCEL_WAIT_MS / 1000} s that query ${id} was cancelled; see its log and audit`)), CANCEL_WAIT_MS).unref();
  };
  const onSigint = () => {
    if (cancelAsked) {
      line.say('cleanroom: CANCELLED: exiting without waiting for the abort');
      process.exit(130);
    }
    cancelAsked = true;
    // The id comes with the query's first event, at once; until then the cancel waits for it.
    if (queryId !== undefined) sendCancel(queryId);
  };
  process.on('SIGINT', onSigint);
  try {
    const events = submitQuery(endpoint, sql)[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([events.next(), gaveUp]);
      if (next.done) break;
      const event = next.value;
      switch (event.type) {
        case 'progress':
          if (queryId === undefined && event.queryId !== undefined) {
            queryId = event.queryId;
            if (cancelAsked) sendCancel(queryId);
          }
          if (event.stage === 'queued' || slow()) line.show(event);
          break;
        case 'error':
          line.end();
          throw new CleanroomError(event.code, event.message);
        case 'released':
          line.end();
          return { kind: 'released', event };
        case 'result':
          line.end();
          return { kind: 'result', result: event.result as QueryResult };
      }
    }
    throw new CleanroomError('ABORTED', 'the node closed the control stream without a result');
  } finally {
    line.end();
    process.off('SIGINT', onSigint);
  }
}
