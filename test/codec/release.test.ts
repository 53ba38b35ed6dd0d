/**
 * The release frames, `shares`, `open` and `labels`: a valid frame round-trips up to its largest, and each field out
 * of its bounds (group and column counts, stages, too many labels, a label too long or of another type) is refused.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { MAX_GROUP_BY_COLUMNS, MAX_GROUPS, MAX_LABEL_CHARS, MAX_SUM_COLUMNS } from '../../src/limits.js';
import { WireMessage } from '../../src/wire/messages.js';
import { expectFieldRefused, expectRoundTrip, expectStrictFrame } from './frame-checks.js';
import { bytes, SESSION } from './valid-messages.js';

const MAX_WIDTH = 2 + 2 * MAX_SUM_COLUMNS;
const { shares, open, labels } = SESSION;

describe('shares', () => {
  it('round-trips, from one group of counts alone to the widest matrix of the most groups', () => {
    expectRoundTrip(WireMessage, shares);
    expectRoundTrip(WireMessage, { ...shares, groups: 1, width: 2, values: bytes(32) });
    expectRoundTrip(WireMessage, { ...shares, groups: MAX_GROUPS, width: MAX_WIDTH, values: bytes(MAX_GROUPS * MAX_WIDTH * 16) });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, shares, 'hello'));

  it('refuses group and column counts out of range, and values that are not bytes', () => {
    for (const groups of [0, -1, MAX_GROUPS + 1, 1.5, '3']) expectFieldRefused(WireMessage, shares, 'groups', groups);
    for (const width of [0, 1, MAX_WIDTH + 1, 2.5, null]) expectFieldRefused(WireMessage, shares, 'width', width);
    for (const values of ['x'.repeat(192), [1, 2, 3], null]) expectFieldRefused(WireMessage, shares, 'values', values);
  });
});

describe('open', () => {
  it('round-trips, counts and values', () => {
    expectRoundTrip(WireMessage, open);
    expectRoundTrip(WireMessage, { ...open, stage: 'values', values: bytes(160) });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, open, 'auth'));

  it('refuses a stage it does not have and values that are not bytes', () => {
    for (const stage of ['count', 'labels', '', 1]) expectFieldRefused(WireMessage, open, 'stage', stage);
    for (const values of ['x'.repeat(48), [0], 0]) expectFieldRefused(WireMessage, open, 'values', values);
  });
});

describe('labels', () => {
  it('round-trips, from no groups to the most groups, the most columns and the longest label', () => {
    expectRoundTrip(WireMessage, labels);
    expectRoundTrip(WireMessage, { ...labels, labels: [] });
    expectRoundTrip(WireMessage, { ...labels, labels: [[]] });
    expectRoundTrip(WireMessage, { ...labels, labels: Array.from({ length: MAX_GROUPS }, (_, g) => [g]) });
    expectRoundTrip(WireMessage, { ...labels, labels: [Array.from({ length: MAX_GROUP_BY_COLUMNS }, (_, c) => `c${c}`), ['é'.repeat(MAX_LABEL_CHARS)]] });
  });

  it('round-trips any labels within the bounds', () => {
    // -0 is left out: msgpackr writes it as the integer 0, and DuckDB puts -0.0 and 0.0 in one group labelled 0.
    const number = fc.double().filter((x) => !Object.is(x, -0));
    const cell = fc.oneof(fc.constant(null), number, fc.integer(), fc.string({ unit: 'grapheme-ascii', maxLength: MAX_LABEL_CHARS }), fc.string({ unit: 'binary', maxLength: 40 }));
    const rows = fc.array(fc.array(cell, { maxLength: MAX_GROUP_BY_COLUMNS }), { maxLength: 50 });
    fc.assert(fc.property(rows, (rows) => expectRoundTrip(WireMessage, { ...labels, labels: rows })), { numRuns: 200 });
  });

  it('is strict, and a handshake message is no session message', () => expectStrictFrame(WireMessage, labels, 'hello'));

  it('refuses too many groups, too many columns, a label too long', () => {
    expectFieldRefused(WireMessage, labels, 'labels', Array.from({ length: MAX_GROUPS + 1 }, () => [1]));
    expectFieldRefused(WireMessage, labels, 'labels', [Array.from({ length: MAX_GROUP_BY_COLUMNS + 1 }, (_, c) => c)]);
    expectFieldRefused(WireMessage, labels, 'labels', [['ok'], ['x'.repeat(MAX_LABEL_CHARS + 1)]]);
  });

  it('refuses labels that are not a string, a number or null, and groups that are not lists', () => {
    for (const cell of [true, bytes(2), [1], { a: 1 }]) expectFieldRefused(WireMessage, labels, 'labels', [['north', cell]]);
    for (const value of [['north'], 'north', null, { 0: ['north'] }]) expectFieldRefused(WireMessage, labels, 'labels', value);
  });
});
