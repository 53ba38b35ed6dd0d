import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CleanroomError, ErrorCodeSchema, ProtocolViolation, RuleViolation, VIOLATION_REASONS, forPeer, oneLine, peerCode, peerText } from '../../src/errors.js';
import { MAX_PEER_TEXT_CHARS } from '../../src/limits.js';

describe('what a peer is told of an error', () => {
  it('never the message of an error about this node\'s own data or setup, which may quote a cell', () => {
    for (const code of ['DATA_INVALID', 'CONFIG_INVALID', 'INTERNAL'] as const) {
      const told = forPeer(new CleanroomError(code, 'Conversion Error: Could not convert string "ann@example.com" to INT64'));
      expect(told.code).toBe(code);
      expect(told.message).not.toContain('ann@example.com');
      expect(told.message).toContain(code);
    }
  });

  it('the code only for a limit whose figures describe this node\'s matched rows (issue 10: error messages)', () => {
    // Release checks these once the groups are known: how many groups the matched rows form, how long a label is.
    const groups = new CleanroomError('LIMIT_EXCEEDED', 'the query yields 10417 groups; at most 10000 are allowed', { dataDependent: true });
    expect(forPeer(groups).code).toBe('LIMIT_EXCEEDED');
    expect(forPeer(groups).message).not.toMatch(/\d{5}/);
    // A limit that is a property of the query, not of the data, is still explained to the peer.
    expect(forPeer(new CleanroomError('LIMIT_EXCEEDED', 'GROUP BY names 17 columns; at most 16')).message).toContain('17 columns');
  });

  it('the rule and what is allowed for a refusal, the reason for a violation', () => {
    const rule = new RuleViolation('t.rules.dimensions', 't.x may not be used in WHERE', 't.a, t.b');
    expect(forPeer(rule)).toEqual({ code: 'RULE_VIOLATION', message: rule.message });
    expect(forPeer(new ProtocolViolation('skipped-batch', 'batch 3 where 2 was due'))).toEqual({ code: 'PROTOCOL_VIOLATION', reason: 'skipped-batch', message: 'batch 3 where 2 was due' });
  });

  it('a reason for a violation only: no `reason` key at all otherwise, which would not encode as plain msgpack', () => {
    expect(Object.keys(forPeer(new CleanroomError('PROTOCOL_VIOLATION', 'text frame', { peerFault: true })))).toEqual(['code', 'message']);
    expect(Object.keys(forPeer(new CleanroomError('TIMEOUT', 'late')))).toEqual(['code', 'message']);
  });

  it('at most 2000 characters', () => {
    expect(forPeer(new ProtocolViolation('bad-length', 'x'.repeat(5000))).message).toHaveLength(2000);
  });
});

describe("a peer's text in this node's errors and log", () => {
  it('cannot forge a log line, move the cursor or reorder what the operator reads', () => {
    const hostile = 'ok\n[2026-12-02T00:00:00.000Z] query 00 done\r\u001b[2K\u001b]0;pwned\u0007\u2028\u202etxt.exe\u0085';
    const safe = peerText(hostile);
    expect(safe).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(safe).toContain('\\u{a}');
    expect(safe).toContain('\\u{1b}');
    expect(safe).toContain('\\u{202e}');
    expect(oneLine('plain text, ünïcode and emoji 🙂 stay')).toBe('plain text, ünïcode and emoji 🙂 stay');
  });

  it(`is capped at ${MAX_PEER_TEXT_CHARS} characters`, () => {
    const safe = peerText('x'.repeat(2000));
    expect(safe).toHaveLength(MAX_PEER_TEXT_CHARS + 1);
    expect(safe.endsWith('…')).toBe(true);
  });

  it("a peer's code is one of ours, or ABORTED", () => {
    expect(peerCode('RULE_VIOLATION')).toBe('RULE_VIOLATION');
    expect(peerCode('PWNED\nINTERNAL')).toBe('ABORTED');
    expect(ErrorCodeSchema.safeParse('NOT_A_CODE').success).toBe(false);
  });
});

describe('violation reasons', () => {
  it('SPEC §6 lists every reason, once, and no other', () => {
    const spec = readFileSync(new URL('../../protocol/SPEC.md', import.meta.url), 'utf8');
    const section = spec.slice(spec.indexOf('## 6.'), spec.indexOf('## 7.'));
    const listed = [...section.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
    expect(listed).toEqual([...VIOLATION_REASONS]);
  });

  it('a violation carries its reason', () => {
    const err = new ProtocolViolation('invalid-point', 'point 2 has small order');
    expect(err).toMatchObject({ code: 'PROTOCOL_VIOLATION', reason: 'invalid-point', peerFault: true });
  });
});
