import { prng } from '../../scripts/demo-data.js';
import type { Row } from '../../scripts/plaintext/rows.js';
import { ADVERTISER, PUBLISHER } from './collaboration.js';

/**
 * In-memory tables for the collaboration of ./collaboration.ts: strings for string and decimal columns ("12.50"),
 * numbers for integer columns, null for missing.
 */
export type { Row };
export type Dataset = Readonly<Record<string, readonly Row[]>>;

export const CAMPAIGNS = ['spring', 'summer', 'autumn', 'winter'] as const;
export const CATEGORIES = ['books', 'garden', 'toys', 'music'] as const;

export interface DataOptions {
  readonly seed?: number;
  /** Person ids the publisher's rows are drawn from, [from, to). */
  readonly publisherPeople: readonly [number, number];
  readonly advertiserPeople: readonly [number, number];
  readonly publisherRows: number;
  readonly advertiserRows: number;
}

export const emailOf = (person: number) => `person${person}@${['example.com', 'mail.test', 'post.example'][person % 3]}`;

/**
 * Messy rows like the demo's: mixed case and stray ASCII whitespace around emails, people repeated,
 * a few NULL and empty keys, refunds as negative amounts, NULL amounts and categories.
 */
export function makeData(o: DataOptions): Dataset {
  const rand = prng(o.seed ?? 7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const person = ([from, to]: readonly [number, number]) => from + Math.floor(rand() * (to - from));
  const mess = (e: string) => {
    const r = rand();
    const cased = r < 0.3 ? e.toUpperCase() : r < 0.45 ? e[0]!.toUpperCase() + e.slice(1) : e;
    const w = rand();
    return w < 0.1 ? `  ${cased}` : w < 0.2 ? `${cased} ` : w < 0.25 ? `\t${cased}\r\n` : cased;
  };
  const publisher: Row[] = Array.from({ length: o.publisherRows }, () => ({
    email: rand() < 0.02 ? null : rand() < 0.02 ? '   ' : mess(emailOf(person(o.publisherPeople))),
    campaign: pick(CAMPAIGNS),
    impressions: Math.floor(rand() * 50),
    region: pick(['eu', 'us', 'apac']),
  }));
  const advertiser: Row[] = Array.from({ length: o.advertiserRows }, () => {
    const cents = rand() < 0.1 ? -Math.floor(rand() * 5000) : 100 + Math.floor(rand() * 50000);
    return {
      email: rand() < 0.02 ? '' : mess(emailOf(person(o.advertiserPeople))),
      amount: rand() < 0.05 ? null : (cents / 100).toFixed(2),
      category: rand() < 0.05 ? null : pick(CATEGORIES),
      items: Math.floor(rand() * 10),
      age: 18 + Math.floor(rand() * 60),
    };
  });
  return { [PUBLISHER]: publisher.map(dottedCapitalI(4)), [ADVERTISER]: advertiser.map(dottedCapitalI(6)) };
}

/**
 * Every n-th row spells mail.test with İ (U+0130), whose simple lowercase is i: the same key under SPEC §3, so every
 * answer is what it would be without it, unless the node or the oracle lowercases İ otherwise (toLowerCase: i̇).
 */
const dottedCapitalI =
  (n: number) =>
  (r: Row, i: number): Row =>
    typeof r.email === 'string' && i % n === 0 ? { ...r, email: r.email.replace(/mail\.test/i, 'MA\u0130L.TEST') } : r;

/** One key per person, no mess: sets with an exactly known intersection. */
export function cleanData(publisherPeople: readonly number[], advertiserPeople: readonly number[]): Dataset {
  return {
    [PUBLISHER]: publisherPeople.map((p, i) => ({ email: emailOf(p), campaign: CAMPAIGNS[i % 4]!, impressions: (p % 50) + 1, region: 'eu' })),
    [ADVERTISER]: advertiserPeople.map((p, i) => ({ email: emailOf(p), amount: `${p % 900}.${String(p % 100).padStart(2, '0')}`, category: CATEGORIES[i % 4]!, items: p % 7, age: 30 })),
  };
}
