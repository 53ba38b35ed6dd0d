/**
 * Seeded random two-sided datasets for the end-to-end tests: a "sales" side (aggregating columns) and a "visits"
 * side, joined on an email, a phone number or an exact reference, with the mess real exports have.
 */
import { join } from 'node:path';
import { prng, writeCsv } from '../../scripts/demo-data.js';
import type { Column, Normalization } from '../../src/manifest/schema.js';

export type Rand = () => number;
type Row = (string | number | null)[];

/** The join key column's name: email, phone or ref. */
export const keyColumn = (n: Normalization) => ({ email: 'email', phone: 'phone', exact: 'ref' })[n];

export const salesHeader = (key: string) => [key, 'amount', 'qty', 'category', 'tier'];
export const visitsHeader = (key: string) => [key, 'campaign', 'channel', 'impressions', 'score', 'week'];

export const salesColumns = (key: string): Column[] => [
  { name: key, type: 'string' },
  { name: 'amount', type: 'decimal', scale: 2, min: -100_000, max: 100_000 },
  { name: 'qty', type: 'integer', min: -1_000, max: 1_000 },
  { name: 'category', type: 'string' },
  { name: 'tier', type: 'integer', min: 0, max: 10 },
];
export const visitsColumns = (key: string): Column[] => [
  { name: key, type: 'string' },
  { name: 'campaign', type: 'string' },
  { name: 'channel', type: 'string' },
  { name: 'impressions', type: 'integer', min: 0, max: 1_000_000 },
  { name: 'score', type: 'decimal', scale: 2, min: -1_000, max: 1_000 },
  { name: 'week', type: 'integer', min: 1, max: 53 },
];

const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const weighted = <T>(rand: Rand, xs: readonly (readonly [T, number])[]): T => {
  let r = rand() * xs.reduce((s, [, w]) => s + w, 0);
  for (const [x, w] of xs) {
    r -= w;
    if (r < 0) return x;
  }
  return xs[xs.length - 1]![0];
};

// ---- keys --------------------------------------------------------------------------------------------------

const SPECIAL_LOCAL = ['Zoë', 'José.Núñez', 'Müller', 'Øyvind', 'ÅSA.lund', '张伟', '山田太郎', 'Дмитрий', 'Ελένη', '😀smile', '🎉party🎉', 'naïve+tag', "O'Brien", 'say"hi"', 'comma,inside'];
const DOMAINS = ['Exämple.com', 'example.org', '例子.中国', 'Mail.Test', 'exämple.com'];
/** ASCII whitespace the email normalisation strips (never newlines: they would split a CSV record for a naive reader). */
const PADS = ['', '', '', ' ', '  ', '\t', ' \t', '\v', '\f', '\t \f '];

/** The email of person i, in its canonical spelling (mixed case on purpose). */
export function emailOf(i: number, domainSalt = 0): string {
  const local = i % 5 === 0 ? `${SPECIAL_LOCAL[(i / 5) % SPECIAL_LOCAL.length]}${i}` : `user${i}`;
  return `${local}@${DOMAINS[(i + domainSalt) % DOMAINS.length]}`;
}

/** The same email as an export might hold it: any case, ASCII whitespace around it. */
export function messEmail(rand: Rand, e: string): string {
  const r = rand();
  const cased = r < 0.25 ? e.toUpperCase() : r < 0.5 ? e.toLowerCase() : r < 0.7 ? [...e].map((ch) => (rand() < 0.5 ? ch.toUpperCase() : ch.toLowerCase())).join('') : e;
  return pick(rand, PADS) + cased + pick(rand, PADS);
}

/** Emails that are NULL (empty CSV field) or empty once normalised: they must never match anything. */
export const EMPTY_EMAILS: (string | null)[] = [null, '   ', '\t', ' \t\v\f ', ''];

/** Near misses: the no-break space and inner spaces are not stripped, so these never match person i's email. */
export function nearMissEmail(rand: Rand, i: number): string {
  const e = emailOf(i);
  return pick(rand, [`${e}\u00a0`, `\u00a0${e}`, e.replace('@', ' @'), e.replace('@', '@@')]);
}

/**
 * Pairs of spellings that are one key under SPEC §3 only because its lowercase maps each code point alone by its
 * simple mapping: the Kelvin sign is ASCII k, İ is i (JavaScript's toLowerCase gives i̇), ẞ is ß, a final Σ is σ
 * (toLowerCase gives ς), full-width Ａ is full-width ａ. Written out, never through messEmail: JavaScript's
 * toUpperCase would turn ß into SS, another key.
 */
export const UNICODE_TWINS: readonly (readonly [string, string])[] = [
  ['\u212AELVIN@Exämple.com', 'kelvin@exämple.com'],
  ['\u0130STANBUL@example.org', 'istanbul@example.org'],
  ['STRA\u1E9EE@Mail.Test', 'stra\u00DFe@mail.test'],
  ['\u039F\u0394\u039F\u03A3@example.org', '\u03BF\u03B4\u03BF\u03C3@example.org'],
  ['JOS\u00C9@example.org', 'jos\u00E9@example.org'],
  ['\uFF21NN@example.org', '\uFF41nn@example.org'],
  ['\u01C4ERIC@example.org', '\u01C5eric@example.org'],
  ['\u13A0\u13F0@example.org', '\uAB70\u13F8@example.org'],
];

/**
 * Pairs that are two keys under SPEC §3, though a full lowercase, case folding, a locale or a normal form would make
 * them one: İ against I + U+0307, ß against SS, a final Σ against ς, NFC against NFD, full-width against ASCII, a
 * ligature, the long s, Turkish dotless ı, and a case pair Unicode added after DuckDB 1.5's tables (Unicode 15).
 */
export const UNICODE_NEAR_MISSES: readonly (readonly [string, string])[] = [
  ['\u0130zmir@example.org', 'I\u0307zmir@example.org'],
  ['Wei\u00DFe@example.org', 'WEISSE@example.org'],
  ['\u039D\u0397\u03A3\u039F\u03A3@example.org', '\u03BD\u03B7\u03C3\u03BF\u03C2@example.org'],
  ['Ren\u00E9e@example.org', 'Rene\u0301e@example.org'],
  ['\uFF22OB@example.org', 'bob@example.org'],
  ['\uFB01nn@example.org', 'finn@example.org'],
  ['\u017Fara@example.org', 'sara@example.org'],
  ['I\u015EIL@example.org', '\u0131\u015F\u0131l@example.org'],
  ['\uA7CBx@example.org', '\u0264x@example.org'],
];

export function phoneOf(i: number): string {
  return `49${String(1510000000 + i * 7919).padStart(10, '0')}`;
}

export function messPhone(rand: Rand, digits: string): string {
  const cc = digits.slice(0, 2);
  const a = digits.slice(2, 5);
  const b = digits.slice(5, 8);
  const c = digits.slice(8);
  const f = pick(rand, [
    digits,
    `+${digits}`,
    `+${cc} ${a} ${b} ${c}`,
    `+${cc}-${a}-${b}-${c}`,
    `${cc} (${a}) ${b}.${c}`,
    `(+${cc}) ${a}/${b}${c}`,
    ` +${cc}${a} ${b}${c} `,
    `tel:+${cc}.${a}.${b}.${c}`,
  ]);
  return f;
}

/** Phones that are NULL or have no ASCII digit (full-width digits are not ASCII digits). */
export const EMPTY_PHONES: (string | null)[] = [null, '+-()', '(  )', ' - ', 'n/a', '４９１５１２３'];

export function refOf(i: number): string {
  return pick(() => ((i * 2654435761) >>> 0) / 4294967296, ['CUST-', 'cust-', '顧客-', 'Ünï-', '🙂-', 'Kd ']) + String(i).padStart(5, '0');
}

// ---- values ------------------------------------------------------------------------------------------------

function amount(rand: Rand): string | null {
  const r = rand();
  if (r < 0.03) return null;
  const cents = r < 0.12 ? -(1 + Math.floor(rand() * 50_000)) : Math.floor(rand() * 200_000);
  const text = (cents / 100).toFixed(2);
  // Valid spellings of the same decimal: fewer digits after the point, an explicit plus sign.
  const s = rand();
  if (s < 0.05 && text.endsWith('.00')) return text.slice(0, -3);
  if (s < 0.1 && text.endsWith('0')) return text.slice(0, -1);
  if (s < 0.12 && cents > 0) return `+${text}`;
  return text;
}

const CATEGORIES: readonly (readonly [string | null, number])[] = [
  ['books', 30],
  ['toys', 25],
  ['garden', 18],
  ['music', 12],
  ['Books', 4],
  ['café', 4],
  ['rare-zither', 1.2],
  ['rare-yak', 0.8],
  [null, 2],
];

export function salesRow(rand: Rand, key: string | null): Row {
  return [
    key,
    amount(rand),
    rand() < 0.02 ? null : Math.floor(rand() * 506) - 5,
    weighted(rand, CATEGORIES),
    rand() < 0.02 ? null : 1 + Math.floor(rand() * 4),
  ];
}

export function visitsRow(rand: Rand, key: string | null): Row {
  return [
    key,
    rand() < 0.01 ? null : pick(rand, ['spring', 'summer', 'autumn', 'winter']),
    pick(rand, ['web', 'app', 'tv', 'e-mail']),
    Math.floor(rand() * 5001),
    rand() < 0.02 ? null : (Math.floor(rand() * 20_001 - 10_000) / 100).toFixed(2),
    1 + Math.floor(rand() * 52),
  ];
}

// ---- datasets ----------------------------------------------------------------------------------------------

export interface DatasetFiles {
  readonly sales: string;
  readonly visits: string;
}

export interface Dataset {
  readonly name: string;
  readonly normalization: Normalization;
  readonly sales: Row[];
  readonly visits: Row[];
}

export async function writeDataset(dir: string, d: Dataset): Promise<DatasetFiles> {
  const files = { sales: join(dir, `${d.name}-sales.csv`), visits: join(dir, `${d.name}-visits.csv`) };
  const key = keyColumn(d.normalization);
  await writeCsv(files.sales, salesHeader(key), d.sales);
  await writeCsv(files.visits, visitsHeader(key), d.visits);
  return files;
}

/** Overlapping populations with duplicates, unicode, whitespace, mixed case, NULL and empty keys, near misses. */
export function mixedEmails(seed: number, salesRows: number, visitsRows: number): Dataset {
  const rand = prng(seed);
  const key = (lo: number, hi: number) => {
    const r = rand();
    if (r < 0.02) return pick(rand, EMPTY_EMAILS);
    if (r < 0.03) return nearMissEmail(rand, lo + Math.floor(rand() * (hi - lo)));
    return messEmail(rand, emailOf(lo + Math.floor(rand() * (hi - lo))));
  };
  // Sales reach people [0, 1800), visits [900, 3000): about half of each side overlaps, most keys repeat.
  const sales = Array.from({ length: salesRows }, () => salesRow(rand, key(0, 1800)));
  const visits = Array.from({ length: visitsRows }, () => visitsRow(rand, key(900, 3000)));
  addUnicodePairs(prng(seed ^ 0x7f4a7c15), sales, visits);
  return { name: `mixed-${seed}`, normalization: 'email', sales, visits };
}

/**
 * Appends each twin (sales spell it one way, visits the other: they match only after normalisation) and each near
 * miss (never a match), with ASCII whitespace around some. Its own random stream: the rows before keep their values.
 */
function addUnicodePairs(rand: Rand, sales: Row[], visits: Row[]): void {
  const padded = (k: string) => pick(rand, PADS) + k + pick(rand, PADS);
  for (const [s, v] of [...UNICODE_TWINS, ...UNICODE_NEAR_MISSES]) {
    for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) sales.push(salesRow(rand, padded(s)));
    for (let n = 1 + Math.floor(rand() * 2); n > 0; n--) visits.push(visitsRow(rand, padded(v)));
  }
}

/** Only the twins and near misses above: exactly the twins match, whatever the other columns hold. */
export function unicodeEmails(seed: number): Dataset {
  const sales: Row[] = [];
  const visits: Row[] = [];
  addUnicodePairs(prng(seed), sales, visits);
  return { name: `unicode-${seed}`, normalization: 'email', sales, visits };
}

/** No common key at all, though both sides hold NULL keys, keys empty after normalisation and near misses. */
export function disjointEmails(seed: number): Dataset {
  const rand = prng(seed);
  const sales = Array.from({ length: 300 }, (_, i) => salesRow(rand, messEmail(rand, emailOf(i % 250))));
  const visits = Array.from({ length: 300 }, (_, i) => visitsRow(rand, messEmail(rand, emailOf(250 + (i % 250)))));
  for (const k of EMPTY_EMAILS) {
    sales.push(salesRow(rand, k), salesRow(rand, k));
    visits.push(visitsRow(rand, k), visitsRow(rand, k));
  }
  // Visits hold near misses of sales' people: no-break spaces and inner spaces are part of the key.
  for (let i = 0; i < 40; i++) visits.push(visitsRow(rand, nearMissEmail(rand, i)));
  // The same local part at another domain is another key (salt 2 never maps Exämple.com onto exämple.com).
  for (let i = 0; i < 20; i++) visits.push(visitsRow(rand, emailOf(i, 2)));
  // Keys that another lowercase or a normal form would join: sales hold one spelling, visits the other.
  for (const [s, v] of UNICODE_NEAR_MISSES) {
    sales.push(salesRow(rand, s));
    visits.push(visitsRow(rand, v));
  }
  return { name: `disjoint-${seed}`, normalization: 'email', sales, visits };
}

/** Both sides know exactly the same people, spelt differently and repeated. */
export function identicalEmails(seed: number, people: number): Dataset {
  const rand = prng(seed);
  const side = (row: (r: Rand, k: string | null) => Row, extra: number) => {
    const rows = Array.from({ length: people }, (_, i) => row(rand, messEmail(rand, emailOf(i))));
    for (let j = 0; j < extra; j++) rows.push(row(rand, messEmail(rand, emailOf(Math.floor(rand() * people)))));
    return rows;
  };
  return { name: `identical-${seed}`, normalization: 'email', sales: side(salesRow, people / 2), visits: side(visitsRow, people) };
}

export function phones(seed: number, salesRows: number, visitsRows: number): Dataset {
  const rand = prng(seed);
  const key = (lo: number, hi: number) => (rand() < 0.03 ? pick(rand, EMPTY_PHONES) : messPhone(rand, phoneOf(lo + Math.floor(rand() * (hi - lo)))));
  return {
    name: `phones-${seed}`,
    normalization: 'phone',
    sales: Array.from({ length: salesRows }, () => salesRow(rand, key(0, 900))),
    visits: Array.from({ length: visitsRows }, () => visitsRow(rand, key(500, 1400))),
  };
}

/** Exact keys: case and whitespace are part of the key, so a changed spelling is another key. */
export function exactRefs(seed: number, salesRows: number, visitsRows: number): Dataset {
  const rand = prng(seed);
  const key = (lo: number, hi: number) => {
    const r = rand();
    const ref = refOf(lo + Math.floor(rand() * (hi - lo)));
    if (r < 0.02) return pick(rand, [null, '']);
    if (r < 0.04) return pick(rand, ['   ', '\t']); // not empty under exact: a (silly) key like any other
    if (r < 0.08) return ref.toLowerCase();
    if (r < 0.1) return ` ${ref}`;
    return ref;
  };
  return {
    name: `exact-${seed}`,
    normalization: 'exact',
    sales: Array.from({ length: salesRows }, () => salesRow(rand, key(0, 700))),
    visits: Array.from({ length: visitsRows }, () => visitsRow(rand, key(400, 1100))),
  };
}
