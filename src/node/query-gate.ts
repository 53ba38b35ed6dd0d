import { CleanroomError } from '../errors.js';

interface Waiter {
  readonly admit: (release: () => void) => void;
  readonly onQueued?: (ahead: number) => void;
}

/**
 * How many queries a node runs at once. Its own users' queries wait in line (first come, first served) and are
 * told their place as the line moves; a peer's proposal beyond the limit is refused at once instead. Queueing a
 * peer's proposal could deadlock: two nodes whose slots are all held by their own queries, each waiting for the
 * other to accept.
 */
export class QueryGate {
  private running = 0;
  private readonly line: Waiter[] = [];

  constructor(private readonly limit: number) {}

  /** Waits for a slot, reporting the number of queries ahead while it waits. Resolves to the slot's release. */
  async enter(onQueued?: (ahead: number) => void): Promise<() => void> {
    if (this.running < this.limit && this.line.length === 0) return this.take();
    return new Promise((admit) => {
      this.line.push({ admit, onQueued });
      onQueued?.(this.running + this.line.length - 1);
    });
  }

  /** A slot now, or LIMIT_EXCEEDED saying whose limit of how many is reached: for proposals from peers. */
  tryEnter(whose: string): () => void {
    if (this.running >= this.limit) throw new CleanroomError('LIMIT_EXCEEDED', `${whose} already runs its limit of ${this.limit} concurrent queries on this node; try again when one has ended`);
    return this.take();
  }

  private take(): () => void {
    this.running += 1;
    return this.slot();
  }

  /** A held slot's release: it passes the slot to the first in line, if any, without ever freeing it in between. */
  private slot(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.line.shift();
      if (!next) {
        this.running -= 1;
        return;
      }
      next.admit(this.slot());
      this.line.forEach((w, i) => w.onQueued?.(this.running + i));
    };
  }
}

/**
 * The gates for queries proposed by peers: one for all of them, and one per proposing member, so that one member
 * (or an insider holding its key) cannot take every slot and lock the other members out.
 */
export class PeerQueryGates {
  private readonly all: QueryGate;
  private readonly each = new Map<string, QueryGate>();

  constructor(
    total: number,
    private readonly perMember: number,
  ) {
    this.all = new QueryGate(total);
  }

  tryEnter(member: string): () => void {
    let own = this.each.get(member);
    if (!own) this.each.set(member, (own = new QueryGate(this.perMember)));
    const releaseOwn = own.tryEnter(member);
    try {
      const releaseAll = this.all.tryEnter('the collaboration');
      return () => {
        releaseAll();
        releaseOwn();
      };
    } catch (err) {
      releaseOwn();
      throw err;
    }
  }
}
