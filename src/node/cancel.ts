import { CleanroomError } from '../errors.js';

/**
 * Cancellation of this node's own queries (POST /query/<id>/cancel, the CLI's Ctrl-C, the console's Cancel): one
 * AbortController per query while it runs. Its reason is the CANCELLED error the query then fails with, on this node
 * and, through its abort, on every member.
 */
export class Cancellations {
  private readonly running = new Map<string, AbortController>();

  /** Registers a query; `forget` when it has ended, whatever the outcome. */
  begin(queryId: string): { readonly signal: AbortSignal; forget(): void } {
    const c = new AbortController();
    this.running.set(queryId, c);
    return { signal: c.signal, forget: () => this.running.delete(queryId) };
  }

  /** Cancels a running query of this node's users; false when none of that id runs here (it ended, or never did). */
  cancel(queryId: string, who: string): boolean {
    const c = this.running.get(queryId);
    if (!c) return false;
    if (!c.signal.aborted) c.abort(new CleanroomError('CANCELLED', `the query was cancelled by ${who}'s user`));
    return true;
  }
}

/**
 * `work`, or the signal's reason as soon as it is aborted. Work that completes after that is handed to `dispose`
 * (a queue slot is released, a connection closed), so nothing it holds outlives the cancelled query.
 */
export function untilCancelled<T>(work: Promise<T>, signal: AbortSignal, dispose: (value: T) => void = () => {}): Promise<T> {
  if (signal.aborted) {
    work.then(dispose, () => {});
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.then(dispose, () => {});
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
