/**
 * Which connections the peer endpoint holds before they authenticate, and which it closes to make room: a policy
 * with no I/O (the endpoint closes what it is told to). Two parts:
 *
 * - Anonymous connections, from TCP accept until a hello passes every check: at most `maxAnonymous`. A new one
 *   beyond that closes the oldest of the source holding the most, so that a flood from one address (or a few)
 *   only ever displaces its own connections, never those of a member dialling from elsewhere.
 * - Claimed connections, whose hello named a member of the manifest and the right manifest hash: out of the
 *   anonymous part, so that no flood of new connections can close them. The initiator already treats its channel
 *   as open once it has the responder's hello and auth (it sends its proposal at once): closing such a connection
 *   would abort a member's query, not just refuse a dial. Per claimed member at most `maxPerMember`, of which at
 *   most `maxPerMemberSource` from one source; a hello beyond either is refused, and no claimed connection is ever
 *   closed to make room. Anyone who knows the member ids and the manifest hash can send such a hello, but cannot
 *   sign: evicting the oldest claimant would let a flood of such hellos close a real member's connection in the
 *   milliseconds before its auth arrives, exactly the failure this pool exists to prevent. Refusing the newest
 *   instead costs at most a member's new dial (refused cleanly before our hello, so the dialler sees a refusal, not
 *   a broken channel) while an attacker holds every slot, each for at most the handshake deadline; the per-source
 *   share keeps an attacker on one address from doing even that.
 *
 * Authenticated connections are in neither part: nothing here can close them.
 */
export type ClaimOutcome = 'claimed' | 'member-full' | 'source-full' | 'gone';

export interface PreauthPoolLimits {
  readonly maxAnonymous: number;
  readonly maxPerMember: number;
  readonly maxPerMemberSource: number;
}

export class PreauthPool<T> {
  /** In the order they came (a Map iterates in insertion order), with an arrival number to compare ages. */
  private readonly anonymous = new Map<T, { source: string; seq: number }>();
  private readonly anonymousBySource = new Map<string, Set<T>>();
  private readonly claimed = new Map<string, Map<T, string>>();
  private readonly claimOf = new Map<T, string>();
  private seq = 0;

  constructor(private readonly limits: PreauthPoolLimits) {}

  get anonymousCount(): number {
    return this.anonymous.size;
  }

  claimedCount(member: string): number {
    return this.claimed.get(member)?.size ?? 0;
  }

  /** A new connection, anonymous; returns the connection to close to make room for it, if the pool was full. */
  add(conn: T, source: string): T | undefined {
    let evicted: T | undefined;
    if (this.anonymous.size >= this.limits.maxAnonymous) {
      evicted = this.oldestOfHeaviestSource();
      if (evicted !== undefined) this.remove(evicted);
    }
    this.anonymous.set(conn, { source, seq: this.seq++ });
    const mine = this.anonymousBySource.get(source) ?? new Set<T>();
    mine.add(conn);
    this.anonymousBySource.set(source, mine);
    return evicted;
  }

  /** The connection's hello named `member` (and passed every other check): moves it to that member's claimants. */
  claim(conn: T, member: string): ClaimOutcome {
    const a = this.anonymous.get(conn);
    if (!a) return 'gone';
    const claimants = this.claimed.get(member) ?? new Map<T, string>();
    if (claimants.size >= this.limits.maxPerMember) return 'member-full';
    let fromSource = 0;
    for (const s of claimants.values()) if (s === a.source) fromSource++;
    if (fromSource >= this.limits.maxPerMemberSource) return 'source-full';
    this.remove(conn);
    claimants.set(conn, a.source);
    this.claimed.set(member, claimants);
    this.claimOf.set(conn, member);
    return 'claimed';
  }

  /** The connection authenticated or closed: it holds no place any more. False if it held none. */
  remove(conn: T): boolean {
    const a = this.anonymous.get(conn);
    if (a) {
      this.anonymous.delete(conn);
      const mine = this.anonymousBySource.get(a.source)!;
      mine.delete(conn);
      if (mine.size === 0) this.anonymousBySource.delete(a.source);
      return true;
    }
    const member = this.claimOf.get(conn);
    if (member === undefined) return false;
    this.claimOf.delete(conn);
    const claimants = this.claimed.get(member)!;
    claimants.delete(conn);
    if (claimants.size === 0) this.claimed.delete(member);
    return true;
  }

  /** Every connection held, anonymous or claimed. */
  *all(): IterableIterator<T> {
    yield* this.anonymous.keys();
    yield* this.claimOf.keys();
  }

  /** The source with the most anonymous connections (the one whose oldest is older, between equals) loses its oldest. */
  private oldestOfHeaviestSource(): T | undefined {
    let pick: { size: number; seq: number; conn: T } | undefined;
    for (const conns of this.anonymousBySource.values()) {
      const [oldest] = conns;
      const seq = this.anonymous.get(oldest!)!.seq;
      if (!pick || conns.size > pick.size || (conns.size === pick.size && seq < pick.seq)) pick = { size: conns.size, seq, conn: oldest! };
    }
    return pick?.conn;
  }
}
