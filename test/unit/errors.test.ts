import { describe, expect, it } from 'vitest';
import { CleanroomError, ProtocolViolation, RuleViolation, forPeer } from '../../src/errors.js';

describe('what a peer is told of an error', () => {
  it('never the message of an error about this node\'s own data or setup, which may quote a cell', () => {
    for (const code of ['DATA_INVALID', 'CONFIG_INVALID', 'INTERNAL'] as const) {
      const told = forPeer(new CleanroomError(code, 'Conversion Error: Could not convert string "ann@example.com" to INT64'));
      expect(told.code).toBe(code);
      expect(told.message).not.toContain('ann@example.com');
      expect(told.message).toContain(code);
    }
  });

  it('the rule and what is allowed for a refusal, the reason for a violation', () => {
    const rule = new RuleViolation('t.rules.dimensions', 't.x may not be used in WHERE', 't.a, t.b');
    expect(forPeer(rule)).toEqual({ code: 'RULE_VIOLATION', message: rule.message });
    expect(forPeer(new ProtocolViolation('batch 3 where 2 was due'))).toEqual({ code: 'PROTOCOL_VIOLATION', message: 'batch 3 where 2 was due' });
  });

  it('at most 2000 characters', () => {
    expect(forPeer(new ProtocolViolation('x'.repeat(5000))).message).toHaveLength(2000);
  });
});
