import { CleanroomError, ProtocolViolation, asCleanroomError, forPeer, peerCode, peerText } from '../errors.js';
import { NO_QUERY_ID, type SessionMessage } from '../wire/messages.js';
import { abortedBy } from './step.js';

/**
 * The proposal protocol (SPEC §4.1) as two pure state machines, one per side of a connection: the querier proposes
 * a query to each other member, and each answers once, with `accept` or `reject`, after checking every rule itself.
 * A member dialled by another for a join of three or more says `join` instead (SPEC §4.4). What a side does between
 * the proposal and its answer (planning, opening its tables, the audit entry) is its driver's I/O; the machines
 * only decide what is said, and refuse what may not be said.
 */
export type ProposalOutcome =
  /** Querier: the member accepted. Answerer: this node accepted; the query's session takes the connection over. */
  | { readonly kind: 'accepted' }
  /** Querier: the member refused, with its reason. Answerer: this node refused. */
  | { readonly kind: 'refused'; readonly error: CleanroomError }
  /** Answerer: the peer proposed this query; answer with `accept()` or `refuse()`. */
  | { readonly kind: 'proposed'; readonly queryId: string; readonly querier: string; readonly sql: string }
  /** Answerer: the connection joins a query this node takes part in. */
  | { readonly kind: 'join'; readonly queryId: string }
  /** Either side: the peer broke the protocol, or aborted. */
  | { readonly kind: 'failed'; readonly error: CleanroomError };

export interface ProposalStep {
  readonly send: readonly SessionMessage[];
  readonly outcome?: ProposalOutcome;
}

/** The querier's side of one proposal to one member: `start` proposes, `receive` takes the one answer. */
export class ProposalOffer {
  private state: 'new' | 'proposed' | 'answered' = 'new';

  constructor(private readonly p: { readonly queryId: string; readonly querier: string; readonly sql: string; readonly peer: string }) {}

  start(): ProposalStep {
    if (this.state !== 'new') throw new CleanroomError('INTERNAL', 'a proposal is made once');
    this.state = 'proposed';
    return { send: [{ type: 'propose', queryId: this.p.queryId, querier: this.p.querier, sql: this.p.sql }] };
  }

  receive(msg: SessionMessage): ProposalStep {
    const { peer, queryId } = this.p;
    try {
      if (this.state !== 'proposed') throw new ProtocolViolation('after-end', `${msg.type} from ${peer} after its answer to the proposal`);
      this.state = 'answered';
      // An abort may come before the member knew the query's id (SPEC §6), so its id is not checked.
      if (msg.type === 'abort') return { send: [], outcome: { kind: 'failed', error: abortedBy(peer, msg) } };
      if (msg.type !== 'accept' && msg.type !== 'reject') throw new ProtocolViolation('unexpected-message', `${peer} answered the proposal with ${msg.type}`);
      if (msg.queryId !== queryId) throw new ProtocolViolation('wrong-query', `${peer} answered a proposal of query ${msg.queryId}, not ${queryId}`);
      if (msg.type === 'reject') return { send: [], outcome: { kind: 'refused', error: new CleanroomError(peerCode(msg.code), `${peer} refused the query: ${peerText(msg.message)}`) } };
      return { send: [], outcome: { kind: 'accepted' } };
    } catch (err) {
      return failed(queryId, err);
    }
  }
}

/** The side of a member that was dialled: the first message is a proposal or a join, and a proposal gets one answer. */
export class ProposalAnswer {
  private state: 'waiting' | 'deciding' | 'answered' = 'waiting';
  private queryId = NO_QUERY_ID;

  /** `peer` is the member the channel authenticated. */
  constructor(private readonly peer: string) {}

  receive(msg: SessionMessage): ProposalStep {
    try {
      if (this.state !== 'waiting') throw new ProtocolViolation(this.state === 'deciding' ? 'wrong-round' : 'after-end', `${msg.type} while the proposal ${this.state === 'deciding' ? 'is being checked' : 'was answered'}`);
      if (msg.type === 'join') {
        this.state = 'answered';
        return { send: [], outcome: { kind: 'join', queryId: msg.queryId } };
      }
      if (msg.type !== 'propose') throw new ProtocolViolation('unexpected-message', `expected a proposal, got ${msg.type}`);
      // SPEC §4.1: a member proposes in its own name only.
      if (msg.querier !== this.peer) throw new ProtocolViolation('unexpected-sender', `${this.peer} proposed a query in the name of ${msg.querier}`);
      this.state = 'deciding';
      this.queryId = msg.queryId;
      return { send: [], outcome: { kind: 'proposed', queryId: msg.queryId, querier: msg.querier, sql: msg.sql } };
    } catch (err) {
      this.state = 'answered';
      // Before a proposal named its query, the abort goes under the id of no query (SPEC §6).
      return failed(this.queryId, err);
    }
  }

  /** Every rule held and this node's tables are ready: the query may run. */
  accept(): ProposalStep {
    this.decided();
    return { send: [{ type: 'accept', queryId: this.queryId }], outcome: { kind: 'accepted' } };
  }

  /** This node refuses the query: the peer learns the code, and the reason unless it depends on this node's data. */
  refuse(err: unknown): ProposalStep {
    this.decided();
    const error = asCleanroomError(err);
    return { send: [{ type: 'reject', queryId: this.queryId, ...forPeer(error) }], outcome: { kind: 'refused', error } };
  }

  private decided(): void {
    if (this.state !== 'deciding') throw new CleanroomError('INTERNAL', `a proposal answered in state ${this.state}`);
    this.state = 'answered';
  }
}

function failed(queryId: string, err: unknown): ProposalStep {
  const error = asCleanroomError(err);
  return { send: [{ type: 'abort', queryId, ...forPeer(error) }], outcome: { kind: 'failed', error } };
}
