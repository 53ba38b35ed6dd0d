import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The demo's two tables, generated deterministically from a seed: a publisher's ad impressions and an
 * advertiser's purchases over overlapping populations, with the mess real exports have (mixed case and
 * stray whitespace in emails, repeated people, missing emails, refunds as negative amounts).
 */
export const CAMPAIGNS = ['spring', 'summer', 'autumn', 'winter'] as const;
export const CATEGORIES = ['books', 'garden', 'toys', 'music', 'shoes', 'kitchen', 'sports', 'beauty', 'games', 'travel'] as const;
/** The days purchases fall on: thirteen ISO weeks of spring, Monday 2026-03-02 to Sunday 2026-05-31. */
export const PURCHASE_DAYS = { first: '2026-03-02', days: 91 } as const;

export interface DemoDataOptions {
  readonly rows: number;
  readonly seed: number;
}

/** mulberry32: a small, well-known deterministic PRNG; the demo data must be the same on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return typeof v === 'number' ? s : `"${s.replaceAll('"', '""')}"`;
}

export async function writeCsv(file: string, header: readonly string[], rows: readonly (readonly (string | number | null)[])[]): Promise<void> {
  const lines = [header.join(','), ...rows.map((r) => r.map(csvField).join(','))];
  await writeFile(file, lines.join('\n') + '\n');
}

export async function generateDemoData(dir: string, opts: DemoDataOptions): Promise<{ publisher: string; advertiser: string }> {
  const rand = prng(opts.seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const people = Math.round(opts.rows * 1.5);
  const email = (i: number) => `person${i}@${['example.com', 'mail.test', 'post.example'][i % 3]}`;
  const mess = (e: string) => {
    const cased = rand() < 0.3 ? e.toUpperCase() : rand() < 0.3 ? e[0]!.toUpperCase() + e.slice(1) : e;
    const r = rand();
    return r < 0.1 ? `  ${cased}` : r < 0.2 ? `${cased} ` : r < 0.25 ? `\t${cased}` : cased;
  };
  // The publisher reaches people [0, rows), the advertiser sells to [rows/2, rows/2 + rows): half overlap.
  const publisher = Array.from({ length: opts.rows }, () => {
    const person = Math.floor(rand() * opts.rows);
    return [rand() < 0.005 ? null : mess(email(person)), pick(CAMPAIGNS), 1 + Math.floor(rand() * 50)];
  });
  const advertiser = Array.from({ length: opts.rows }, () => {
    const person = Math.floor(opts.rows / 2 + rand() * Math.min(opts.rows, people - opts.rows / 2));
    const cents = rand() < 0.05 ? -Math.floor(rand() * 5000) : 100 + Math.floor(rand() * 50000);
    const day = new Date(Date.parse(PURCHASE_DAYS.first) + Math.floor(rand() * PURCHASE_DAYS.days) * 86_400_000).toISOString().slice(0, 10);
    return [rand() < 0.005 ? '' : mess(email(person)), (cents / 100).toFixed(2), pick(CATEGORIES), day];
  });
  await mkdir(dir, { recursive: true });
  const files = { publisher: join(dir, 'publisher.csv'), advertiser: join(dir, 'advertiser.csv') };
  await writeCsv(files.publisher, ['email', 'campaign', 'impressions'], publisher);
  await writeCsv(files.advertiser, ['email', 'amount', 'category', 'bought_on'], advertiser);
  return files;
}
