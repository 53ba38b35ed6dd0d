import { createWriteStream } from 'node:fs';

/**
 * The benchmarks' workload: alpha holds keys [0, n) with a group (i mod 10) and a value (i mod 1000), beta holds
 * keys [n/2, 3n/2); the answer is known in closed form, so every run checks its own result.
 */
export const GROUPS = 10;

export const key = (i: number) => `person${String(i).padStart(8, '0')}@example.com`;

/** The expected `SELECT g, COUNT(*), SUM(v)` of the join, as JSON rows [g, count, sum]. */
export function expected(n: number): string {
  const rows = Array.from({ length: GROUPS }, (_, g) => ({ g: `g${g}`, count: 0, sum: 0 }));
  for (let i = n / 2; i < n; i++) {
    rows[i % GROUPS]!.count += 1;
    rows[i % GROUPS]!.sum += i % 1000;
  }
  return JSON.stringify(rows.map((r) => [r.g, r.count, String(r.sum)]));
}

export async function writeLines(file: string, header: string, n: number, line: (i: number) => string): Promise<void> {
  const out = createWriteStream(file);
  out.write(header + '\n');
  const CHUNK = 10_000;
  for (let i = 0; i < n; i += CHUNK) {
    let s = '';
    for (let j = i; j < Math.min(n, i + CHUNK); j++) s += line(j) + '\n';
    if (!out.write(s)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
}

export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(`benchmark answer check failed: ${message}`);
}

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
