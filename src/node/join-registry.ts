import { CleanroomError } from '../errors.js';
import type { PeerConnection } from '../transport/connection.js';

/**
 * Matches `join` connections with the queries waiting for them. Either side can come first: a member may dial in
 * before this node has accepted the querier's proposal, so an early connection waits here (and is closed if no
 * query claims it in time).
 */
/** A join nobody claims is a failure for the member that dialled, not an ordinary end. */
function abortFor(queryId: string, message: string) {
  return { type: 'abort' as const, queryId, code: 'TIMEOUT', message };
}

export class JoinRegistry {
  private readonly parked = new Map<string, { conn: PeerConnection; timer: NodeJS.Timeout }>();
  private readonly waiting = new Map<string, (conn: PeerConnection) => void>();

  offer(queryId: string, conn: PeerConnection, keepMs = 60_000): void {
    const key = `${queryId}/${conn.peer}`;
    const waiter = this.waiting.get(key);
    if (waiter) {
      this.waiting.delete(key);
      waiter(conn);
      return;
    }
    this.parked.get(key)?.conn.close(abortFor(queryId, 'a second join for the same query and member'));
    const timer = setTimeout(() => {
      this.parked.delete(key);
      conn.close(abortFor(queryId, `no query ${queryId} claimed the join within ${keepMs} ms`));
    }, keepMs);
    this.parked.set(key, { conn, timer });
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
      this.waiting.set(key, (conn) => {
        clearTimeout(timer);
        resolve(conn);
      });
    });
  }
}
