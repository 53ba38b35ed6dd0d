import { MAX_IDLE_CONNECTIONS_PER_MEMBER } from '../limits.js';
import type { PeerConnection } from '../transport/connection.js';

/**
 * The authenticated connections that have not sent their first message yet (a proposal or a join), per member. A
 * member opens one per query and speaks at once, so more than a few idle means connections held open for nothing:
 * beyond MAX_IDLE_CONNECTIONS_PER_MEMBER the member's oldest idle one is closed, which bounds the descriptors one
 * member with a real key can hold (the connections that carry a query are bounded by the query and join limits).
 */
export class IdleConnections {
  private readonly idle = new Map<string, PeerConnection[]>();

  /** Holds `conn` as idle until `settled` is called; closes its member's oldest idle one if it has too many. */
  hold(conn: PeerConnection): { readonly settled: () => void } {
    const list = this.idle.get(conn.peer) ?? [];
    list.push(conn);
    this.idle.set(conn.peer, list);
    if (list.length > MAX_IDLE_CONNECTIONS_PER_MEMBER) {
      const oldest = list.shift()!;
      oldest.close();
    }
    return { settled: () => this.forget(conn) };
  }

  private forget(conn: PeerConnection): void {
    const list = this.idle.get(conn.peer);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(conn.peer);
  }
}
