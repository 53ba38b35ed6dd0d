/**
 * The pre-auth pool's policy (src/transport/preauth-pool.ts) and the sources it shares places by
 * (src/transport/source-address.ts): which connection a new one displaces, and which hello is refused.
 */
import { describe, expect, it } from 'vitest';
import { PreauthPool } from '../../src/transport/preauth-pool.js';
import { sourceOf } from '../../src/transport/source-address.js';

const limits = { maxAnonymous: 4, maxPerMember: 4, maxPerMemberSource: 2 };

describe('PreauthPool', () => {
  it('a full pool closes the oldest of the source holding the most, so a flood displaces only its own', () => {
    const pool = new PreauthPool<string>(limits);
    expect(pool.add('member', '10.0.0.1')).toBeUndefined();
    for (let i = 0; i < 3; i++) expect(pool.add(`flood${i}`, '10.6.6.6')).toBeUndefined();
    for (let i = 3; i < 50; i++) expect(pool.add(`flood${i}`, '10.6.6.6')).toBe(`flood${i - 3}`);
    expect([...pool.all()]).toContain('member');
    expect(pool.anonymousCount).toBe(4);
  });

  it('between sources holding as many, the oldest connection goes', () => {
    const pool = new PreauthPool<string>(limits);
    pool.add('a1', 'A');
    pool.add('b1', 'B');
    pool.add('a2', 'A');
    pool.add('b2', 'B');
    expect(pool.add('c1', 'C')).toBe('a1');
    expect(pool.add('c2', 'C')).toBe('b1');
  });

  it('a claimed connection leaves the anonymous ones: no new connection closes it', () => {
    const pool = new PreauthPool<string>(limits);
    pool.add('member', '10.0.0.1');
    expect(pool.claim('member', 'alpha')).toBe('claimed');
    expect(pool.anonymousCount).toBe(0);
    expect(pool.claimedCount('alpha')).toBe(1);
    for (let i = 0; i < 100; i++) expect(pool.add(`flood${i}`, '10.0.0.1')).not.toBe('member');
    expect([...pool.all()]).toContain('member');
    expect(pool.remove('member')).toBe(true);
    expect(pool.claimedCount('alpha')).toBe(0);
    expect(pool.remove('member')).toBe(false);
  });

  it('claims beyond a source\'s share or the member\'s places are refused, and none already claimed is closed', () => {
    const pool = new PreauthPool<string>({ ...limits, maxAnonymous: 100 });
    for (const c of ['x1', 'x2', 'x3', 'y1', 'y2', 'y3', 'm1']) pool.add(c, c[0]!);
    expect(pool.claim('x1', 'alpha')).toBe('claimed');
    expect(pool.claim('x2', 'alpha')).toBe('claimed');
    expect(pool.claim('x3', 'alpha')).toBe('source-full');
    // Another member's places are its own.
    expect(pool.claim('x3', 'beta')).toBe('claimed');
    expect(pool.claim('y1', 'alpha')).toBe('claimed');
    expect(pool.claim('y2', 'alpha')).toBe('claimed');
    expect(pool.claim('m1', 'alpha')).toBe('member-full');
    expect(pool.claimedCount('alpha')).toBe(4);
    // A refused hello's connection is still anonymous until it closes; one never added is gone.
    expect(pool.anonymousCount).toBe(2);
    expect(pool.claim('nobody', 'alpha')).toBe('gone');
    pool.remove('x1');
    expect(pool.claim('m1', 'alpha')).toBe('claimed');
  });
});

describe('sourceOf', () => {
  it('an IPv4 address is its own source, also on a dual-stack socket', () => {
    expect(sourceOf('192.0.2.7')).toBe('192.0.2.7');
    expect(sourceOf('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceOf(undefined)).toBe('unknown');
  });

  it('an IPv6 address counts by its /64', () => {
    expect(sourceOf('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceOf('2001:0db8:0000:0001::5')).toBe('2001:db8:0:1::/64');
    expect(sourceOf('::1')).toBe('0:0:0:0::/64');
    expect(sourceOf('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(sourceOf('64:ff9b::192.0.2.7')).toBe('64:ff9b:0:0::/64');
  });
});
