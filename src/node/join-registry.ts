import { CleanroomError } from '../errors.js';
import { MAX_PARKED_JOINS_PER_MEMBER, PROPOSAL_TIMEOUT_MS } from '../limits.js';
import type { PeerConnection } from '../transport/connection.js';

/** A join that is dropped is a failure for the member that dialled, not an ordinary end. */
function abort(queryId: string, code: 'TIMEOUT' | 'LIMIT_EXCEEDED' | 'ABORTED', message: string) {
  return { type: 'abort' as const, queryId, code, message };
}

/**
 * Matches `join` connections with the queries waiting for them. Either side can come first: a member may dial in
 * before this node has accepted the querier's proposal, so an early connection waits here (and is closed if no
 * query claims it in time). A member may have MAX_PARKED_JOINS_PER_MEMBER waiting at once, so that one flooding
 * joins holds neither this node's memory nor the room other members' joins need.
 */
export class JoinRegistry {
  private readonly parked = new Map<string, { conn: PeerConnection; timer: NodeJS.Timeout }>();
  private readonly waiting = new Map<string, { resolve: (conn: PeerConnection) => void; reject: (err: CleanroomError) => void }>();

  /** Waits up to PROPOSAL_TIMEOUT_MS: the member that dialled accepted the query, and this node is still checking it. */
  offer(queryId: string, conn: PeerConnection): void {
    const key = `${queryId}/${conn.peer}`;
    const waiter = this.waiting.get(key);
    if (waiter) {
      this.waiting.delete(key);
      waiter.resolve(conn);
      return;
    }
    const previous = this.parked.get(key);
    if (previous) {
      clearTimeout(previous.timer);
      this.parked.delete(key);
      previous.conn.close(abort(queryId, 'ABORTED', 'a second join for the same query and member'));
    }
    const fromPeer = [...this.parked.values()].filter((p) => p.conn.peer === conn.peer).length;
    if (fromPeer >= MAX_PARKED_JOINS_PER_MEMBER) {
      conn.close(abort(queryId, 'LIMIT_EXCEEDED', `${MAX_PARKED_JOINS_PER_MEMBER} joins of ${conn.peer} already wait for queries this node has not accepted`));
      return;
    }
    const timer = setTimeout(() => {
      this.parked.delete(key);
      conn.close(abort(queryId, 'TIMEOUT', `no query ${queryId} claimed the join within ${PROPOSAL_TIMEOUT_MS} ms`));
    }, PROPOSAL_TIMEOUT_MS);
    const entry = { conn, timer };
    this.parked.set(key, entry);
    // A join whose connection ends while it waits frees its place at once.
    void conn.ended.then(() => {
      if (this.parked.get(key) !== entry) return;
      clearTimeout(timer);
      this.parked.delete(key);
    });
  }

  expect(queryId: string, peer: string, timeoutMs: number): Promise<PeerConnection> {
    const key = `${queryId}/${peer}`;
    const parked = this.parked.get(key);
    if (parked) {
      clearTimeout(parked.timer);
      this.parked.delete(key);
      return Promise.resolve(parked.conn);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new CleanroomError('TIMEOUT', `${peer} did not join query ${queryId} within ${timeoutMs} ms`, { peerFault: true }));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(key);
      };
      this.waiting.set(key, { resolve: (conn) => (done(), resolve(conn)), reject: (err) => (done(), reject(err)) });
    });
  }

  /** The node stops: parked joins are aborted and queries waiting for a join fail, so no timer outlives it. */
  close(): void {
    for (const [key, { conn, timer }] of this.parked) {
      clearTimeout(timer);
      conn.close(abort(key.split('/')[0]!, 'ABORTED', 'the node stopped'));
    }
    this.parked.clear();
    for (const w of [...this.waiting.values()]) w.reject(new CleanroomError('ABORTED', 'the node stopped'));
  }
}
