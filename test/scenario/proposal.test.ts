import { describe, expect, it } from 'vitest';
import { CleanroomError, RuleViolation } from '../../src/errors.js';
import { ProposalAnswer, ProposalOffer, type ProposalStep } from '../../src/session/proposal.js';
import { NO_QUERY_ID, type SessionMessage } from '../../src/wire/messages.js';

/**
 * The proposal protocol (SPEC §4.1) with both sides in one process: the querier's offer and the dialled member's
 * answer exchange their messages directly. One test per way a side can refuse or break it.
 */
const QUERY = '0123456789abcdef0123456789abcdef';
const OTHER_QUERY = 'fedcba9876543210fedcba9876543210';
const SQL = 'SELECT COUNT(*) FROM a JOIN b ON a.k = b.k';

function pair() {
  const offer = new ProposalOffer({ queryId: QUERY, querier: 'alpha', sql: SQL, peer: 'beta' });
  const answer = new ProposalAnswer('alpha');
  return { offer, answer };
}

const only = (step: ProposalStep): SessionMessage => {
  expect(step.send).toHaveLength(1);
  return step.send[0]!;
};
const failure = (step: ProposalStep): CleanroomError => {
  if (step.outcome?.kind !== 'failed' && step.outcome?.kind !== 'refused') throw new Error(`no failure: ${JSON.stringify(step.outcome)}`);
  return step.outcome.error;
};

describe('a proposal that is accepted', () => {
  it('propose, the answerer checks it, accept: both sides know the query runs', () => {
    const { offer, answer } = pair();
    const proposed = answer.receive(only(offer.start()));
    expect(proposed).toEqual({ send: [], outcome: { kind: 'proposed', queryId: QUERY, querier: 'alpha', sql: SQL } });
    const accepted = answer.accept();
    expect(accepted.outcome).toEqual({ kind: 'accepted' });
    expect(offer.receive(only(accepted))).toEqual({ send: [], outcome: { kind: 'accepted' } });
  });

  it('a join opens a connection of an accepted query instead', () => {
    const { answer } = pair();
    expect(answer.receive({ type: 'join', queryId: QUERY })).toEqual({ send: [], outcome: { kind: 'join', queryId: QUERY } });
  });
});

describe('refusals: the querier learns the rule and what is allowed, or only the code', () => {
  it('a rule: code, rule and what is allowed reach the querier', () => {
    const { offer, answer } = pair();
    answer.receive(only(offer.start()));
    const refused = answer.refuse(new RuleViolation('b.rules.dimensions', 'b.x may not be used in WHERE', 'b.region'));
    const err = failure(offer.receive(only(refused)));
    expect(offer.receive({ type: 'accept', queryId: QUERY }).outcome?.kind).toBe('failed');
    expect(err.code).toBe('RULE_VIOLATION');
    expect(err.message).toContain('beta refused the query: b.x may not be used in WHERE (rule: b.rules.dimensions; allowed: b.region)');
  });

  it("the answerer's own data: the code only, never the message (it can quote a cell)", () => {
    const { offer, answer } = pair();
    answer.receive(only(offer.start()));
    const reject = only(answer.refuse(new CleanroomError('DATA_INVALID', 'orders.csv line 4: amount "12.345" has more than 2 decimals')));
    expect(JSON.stringify(reject)).not.toContain('12.345');
    expect(failure(offer.receive(reject)).code).toBe('DATA_INVALID');
  });

  it('a code the querier does not know is read as ABORTED; the text is capped and escaped', () => {
    const { offer } = pair();
    offer.start();
    const err = failure(offer.receive({ type: 'reject', queryId: QUERY, code: 'NO_SUCH_CODE', message: 'line one\nline two' }));
    expect(err.code).toBe('ABORTED');
    expect(err.message).toContain('line one\\u{a}line two');
  });

  it("an abort instead of an answer ends the proposal as ABORTED, whatever its query id, and is not answered", () => {
    const { offer } = pair();
    offer.start();
    const step = offer.receive({ type: 'abort', queryId: NO_QUERY_ID, code: 'LIMIT_EXCEEDED', message: 'busy' });
    expect(step.send).toEqual([]);
    expect(failure(step)).toMatchObject({ code: 'ABORTED', message: expect.stringContaining('LIMIT_EXCEEDED: busy') });
  });
});

describe('violations: the side that sees one aborts, naming the query when it knows it', () => {
  it('a first message that is neither a proposal nor a join: abort under the id of no query', () => {
    const { answer } = pair();
    const step = answer.receive({ type: 'accept', queryId: QUERY });
    expect(failure(step).code).toBe('PROTOCOL_VIOLATION');
    expect(only(step)).toMatchObject({ type: 'abort', queryId: NO_QUERY_ID, code: 'PROTOCOL_VIOLATION' });
  });

  it('a proposal in the name of another member', () => {
    const answer = new ProposalAnswer('mallory');
    const step = answer.receive({ type: 'propose', queryId: QUERY, querier: 'alpha', sql: SQL });
    expect(failure(step).message).toMatch(/mallory proposed a query in the name of alpha/);
    expect(only(step)).toMatchObject({ type: 'abort', queryId: NO_QUERY_ID });
  });

  it('a second message while the proposal is being checked', () => {
    const { offer, answer } = pair();
    answer.receive(only(offer.start()));
    const step = answer.receive({ type: 'propose', queryId: OTHER_QUERY, querier: 'alpha', sql: SQL });
    expect(failure(step).code).toBe('PROTOCOL_VIOLATION');
    expect(only(step)).toMatchObject({ type: 'abort', queryId: QUERY });
  });

  it('an answer that is no answer, or answers another query', () => {
    for (const msg of [
      { type: 'points', queryId: QUERY, stage: 'q', seq: 0, points: new Uint8Array(32) },
      { type: 'accept', queryId: OTHER_QUERY },
      { type: 'reject', queryId: OTHER_QUERY, code: 'RULE_VIOLATION', message: 'no' },
    ] as SessionMessage[]) {
      const { offer } = pair();
      offer.start();
      const step = offer.receive(msg);
      expect(failure(step).code).toBe('PROTOCOL_VIOLATION');
      expect(only(step)).toMatchObject({ type: 'abort', queryId: QUERY, code: 'PROTOCOL_VIOLATION' });
    }
  });

  it('a second answer', () => {
    const { offer } = pair();
    offer.start();
    offer.receive({ type: 'accept', queryId: QUERY });
    expect(failure(offer.receive({ type: 'accept', queryId: QUERY })).code).toBe('PROTOCOL_VIOLATION');
  });

  it('its own driver answering twice, or before a proposal, is a local bug, not the peer\'s', () => {
    const { offer, answer } = pair();
    expect(() => answer.accept()).toThrow(/answered in state waiting/);
    answer.receive(only(offer.start()));
    answer.accept();
    expect(() => answer.refuse(new Error('late'))).toThrow(/answered in state answered/);
    expect(() => offer.start()).toThrow(/once/);
  });
});
