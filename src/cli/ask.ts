import { MAX_CONCURRENT_QUERIES } from '../limits.js';
import { CleanroomError } from '../errors.js';
import { controlEndpoint, submitQuery } from '../control/control-client.js';
import type { ControlEvent } from '../control/control-event.js';
import type { QueryResult } from '../query/result.js';

export type Answer = { readonly kind: 'result'; readonly result: QueryResult } | { readonly kind: 'released'; readonly event: Extract<ControlEvent, { type: 'released' }> };

/**
 * Submits `sql` to the node running in `dir` and waits for its answer; the queue and the PSI's progress go to stderr
 * once a query takes long enough to wonder about. A refusal or failure throws with the node's code.
 */
export async function ask(dir: string, sql: string): Promise<Answer> {
  const started = Date.now();
  const slow = () => Date.now() - started > 1000;
  for await (const event of submitQuery(await controlEndpoint(dir), sql)) {
    switch (event.type) {
      case 'progress':
        if (event.stage === 'queued') process.stderr.write(`queued: ${event.ahead ?? 0} of this node's queries run or wait ahead (at most ${MAX_CONCURRENT_QUERIES} run at once)\n`);
        else if (slow()) process.stderr.write(`\r${event.stage}: ${event.ownKeys} own keys processed`);
        break;
      case 'error':
        if (slow()) process.stderr.write('\n');
        throw new CleanroomError(event.code, event.message);
      case 'released':
        if (slow()) process.stderr.write('\n');
        return { kind: 'released', event };
      case 'result':
        if (slow()) process.stderr.write('\n');
        return { kind: 'result', result: event.result as QueryResult };
    }
  }
  throw new CleanroomError('ABORTED', 'the node closed the control stream without a result');
}
