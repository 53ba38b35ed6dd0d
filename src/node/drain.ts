import { CleanroomError } from '../errors.js';

/**
 * The queries running on a node, for a graceful stop (`cleanroom stop`): once the stop begins, a new query (this
 * node's user's, or a peer's proposal) is refused, and the stop waits for the running ones to end, up to its grace.
 */
export class QueryDrain {
  private running = 0;
  private stopping = false;
  private readonly idleWaiters: (() => void)[] = [];

  get size(): number {
    return this.running;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Counts a query in until the returned release; ABORTED once the node is stopping. */
  enter(): () => void {
    this.refuseIfStopping();
    this.running += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      if (this.running === 0) this.idleWaiters.splice(0).forEach((w) => w());
    };
  }

  /** ABORTED when the node is stopping: for a query that waited in line and would only now begin. */
  refuseIfStopping(): void {
    if (this.stopping) throw new CleanroomError('ABORTED', 'the node is stopping (cleanroom stop): it takes no new query; ask again once it has been started again');
  }

  /**
   * Refuses every new query from now on; resolves when none runs, after `graceMs`, or when `cutShort` settles (a
   * signal during the wait), to the number still running.
   */
  async stop(graceMs: number, cutShort?: Promise<void>): Promise<number> {
    this.stopping = true;
    if (this.running > 0) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((r) => this.idleWaiters.push(r));
      await Promise.race([idle, new Promise<void>((r) => (timer = setTimeout(r, graceMs))), ...(cutShort ? [cutShort] : [])]);
      clearTimeout(timer);
    }
    return this.running;
  }
}
