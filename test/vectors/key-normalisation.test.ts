import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeKey } from '../../scripts/plaintext/rows.js';
import { inMemoryDuckDB } from '../support/memory-duckdb.js';
import { normalizedKeySql } from '../../src/data/normalize.js';
import type { Normalization } from '../../src/manifest/schema.js';

/*
 * SPEC §3's key normalisation on the cases where Unicode offers more than one answer. The expected keys were read
 * from DuckDB 1.5 running src/data/normalize.ts and checked against the SPEC's definition by hand; both the node's
 * SQL and the plaintext oracle must give them, so that neither can drift (to full case mapping, NFC, or digits of
 * other scripts) without this failing.
 */
interface Vector {
  normalization: Normalization;
  input: string | null;
  key: string | null;
  why: string;
}
const { vectors } = JSON.parse(readFileSync(new URL('./key-normalisation.json', import.meta.url), 'utf8')) as { vectors: Vector[] };

describe('key normalisation vectors (SPEC §3)', () => {
  const duck = inMemoryDuckDB();

  /** Each (normalization, input, expected) row whose key the node's SQL does not give, compared inside DuckDB. */
  async function wrongInDuckDB(rows: readonly { normalization: Normalization; input: string | null; key: string | null }[]): Promise<number[]> {
    await duck.conn.run('CREATE OR REPLACE TABLE v (i INTEGER, normalization VARCHAR, k VARCHAR, expected VARCHAR)');
    const appender = await duck.conn.createAppender('v');
    rows.forEach((r, i) => {
      appender.appendInteger(i);
      appender.appendVarchar(r.normalization);
      for (const s of [r.input, r.key]) (s === null ? appender.appendNull() : appender.appendVarchar(s));
      appender.endRow();
    });
    appender.closeSync();
    const wrong: number[] = [];
    for (const n of ['exact', 'email', 'phone'] as const) {
      // Compared inside DuckDB: its client library drops a leading U+FEFF from the strings it hands back.
      const sql = `SELECT i FROM v WHERE normalization = '${n}' AND ${normalizedKeySql('k', n)} IS DISTINCT FROM expected ORDER BY i`;
      wrong.push(...(await duck.conn.runAndReadAll(sql)).getRows().map(([i]) => Number(i)));
    }
    return wrong;
  }

  it('cover İ, ß and ẞ, the Kelvin sign, final sigma, NFC and NFD, full-width letters and digits, for every normalisation', () => {
    expect(new Set(vectors.map((v) => v.normalization))).toEqual(new Set(['exact', 'email', 'phone']));
    const inputs = vectors.map((v) => v.input ?? '').join('');
    for (const ch of ['\u0130', 'ß', '\u1e9e', '\u212a', 'Σ', 'ς', 'E\u0301', 'É', '\uff21', '\uff12', 'ﬁ', 'ı']) expect(inputs).toContain(ch);
  });

  it("the node's SQL, run in DuckDB, gives every expected key", async () => {
    const wrong = await wrongInDuckDB(vectors);
    expect(wrong.map((i) => vectors[i]!.why)).toEqual([]);
  });

  it.each(vectors)('the plaintext oracle: $normalization, $why', ({ normalization, input, key }) => {
    expect(normalizeKey(input, normalization)).toBe(key);
  });

  it('the node and the oracle agree on random texts of cased, combining, full-width and space-like code points', async () => {
    const alphabet = fc.constantFrom(' ', '\t', '\n', '\v', '\f', '\r', '\u00a0', '\u3000', 'a', 'A', '0', '9', '+', '@', '\u0130', 'I', 'i', 'ı', '\u0307', 'ß', '\u1e9e', '\u212a', 'Σ', 'σ', 'ς', 'É', '\u0301', '\uff21', '\uff11', '\u0661', 'ﬁ', 'ǅ', '\u13a0', '\ua7cb', '\u{10400}', '😀');
    const texts = fc.sample(fc.array(alphabet, { maxLength: 10 }).map((cs) => cs.join('')), { numRuns: 2000, seed: 22 });
    const rows = texts.flatMap((s) => (['exact', 'email', 'phone'] as const).map((n) => ({ normalization: n, input: s, key: normalizeKey(s, n) })));
    expect(await wrongInDuckDB(rows)).toEqual([]);
  });
});
