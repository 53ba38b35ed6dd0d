import canonicalizeModule from 'canonicalize';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditCommand } from '../../src/cli/audit.js';
import { CleanroomError } from '../../src/errors.js';
import { AuditLog, GENESIS_HASH, verifyLog, type AuditInput } from '../../src/audit/audit-log.js';

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string;
const dir = mkdtempSync(join(tmpdir(), 'cleanroom-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `audit-${n++}.jsonl`);

const input = (i: number, over: Partial<AuditInput> = {}): AuditInput => ({
  queryId: `q${i.toString().padStart(31, '0')}`,
  event: (['proposed', 'accepted', 'released', 'refused', 'result', 'failed'] as const)[i % 6]!,
  querier: 'alice',
  sql: `SELECT COUNT(*) FROM a JOIN b ON a.email = b.email WHERE n > ${i}`,
  peers: ['alice', 'bob'],
  detail: i % 6 === 3 ? 'RULE_VIOLATION: dimension x not allowed (rule: dimensions; allowed: cat)' : '',
  ...(i % 6 === 2 ? { released: { groups: 4, receivers: ['alice'], columns: ['cat', 'sum_amount'] } } : {}),
  ...over,
});

async function writeLog(count: number, over: (i: number) => Partial<AuditInput> = () => ({})): Promise<string> {
  const file = fresh();
  const log = await AuditLog.open(file);
  for (let i = 0; i < count; i++) await log.append(input(i, over(i)));
  await log.close();
  return file;
}

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').slice(0, -1);
const writeLines = (file: string, ls: string[]) => writeFileSync(file, ls.map((l) => l + '\n').join(''));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('AuditLog', () => {
  it('appends, reads back and verifies', async () => {
    const file = await writeLog(6);
    const entries = await AuditLog.read(file);
    expect(entries.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(entries[0]!.prev).toBe(GENESIS_HASH);
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prev).toBe(entries[i - 1]!.hash);
    expect(entries[2]!.released).toEqual({ groups: 4, receivers: ['alice'], columns: ['cat', 'sum_amount'] });
    expect(entries[0]!.released).toBeUndefined();
    expect(entries[3]!.detail).toMatch(/RULE_VIOLATION/);
    expect(await AuditLog.verify(file)).toEqual({ ok: true, entries: 6, head: entries[5]!.hash });
    // Each line is compact canonical JSON and its hash is SHA-256 over the entry without `hash`.
    const raw = lines(file);
    for (const [i, e] of entries.entries()) {
      expect(raw[i]).toBe(canonicalize(e));
      const { hash, ...body } = e;
      expect(hash).toBe(sha(canonicalize(body)));
    }
  });

  it('creates the file with mode 0600', async () => {
    if (process.platform === 'win32') return;
    const file = fresh();
    await (await AuditLog.open(file)).close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps seq continuous and the chain intact under 50 concurrent appends', async () => {
    const file = fresh();
    const log = await AuditLog.open(file);
    const done = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(input(i))));
    await log.close();
    expect(done.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await AuditLog.verify(file)).toMatchObject({ ok: true, entries: 50 });
  });

  it('continues the chain after reopening', async () => {
    const file = await writeLog(3);
    const before = await AuditLog.read(file);
    const log = await AuditLog.open(file);
    expect(log.warning).toBeUndefined();
    const e = await log.append(input(3));
    await log.close();
    expect(e.seq).toBe(3);
    expect(e.prev).toBe(before[2]!.hash);
    expect(await AuditLog.verify(file)).toMatchObject({ ok: true, entries: 4 });
  });

  it('rejects an entry with fields beyond the schema (no row values in `released`)', async () => {
    const log = await AuditLog.open(fresh());
    const bad = { ...input(0), released: { groups: 1, receivers: ['alice'], columns: ['c'], rows: [[1]] } } as unknown as AuditInput;
    await expect(log.append(bad)).rejects.toThrow(/not an audit entry/);
    // The failed append leaves the queue usable and the seq unused.
    expect((await log.append(input(0))).seq).toBe(0);
    await log.close();
  });

  it('detects a changed character of sql or detail at that line', async () => {
    for (const [field, from, to] of [['sql', 'COUNT', 'COUNX'], ['detail', 'dimension x', 'dimension y']] as const) {
      const file = await writeLog(6);
      const ls = lines(file);
      expect(ls[3]).toContain(from);
      ls[3] = ls[3]!.replace(from, to);
      writeLines(file, ls);
      const r = await AuditLog.verify(file);
      expect(r, field).toEqual({ ok: false, line: 4, problem: expect.stringMatching(/content tampered/) });
    }
  });

  it('detects a deleted middle line', async () => {
    const file = await writeLog(5);
    const ls = lines(file);
    ls.splice(2, 1);
    writeLines(file, ls);
    expect(await AuditLog.verify(file)).toEqual({ ok: false, line: 3, problem: expect.stringMatching(/seq 3 where 2 was expected/) });
  });

  it('detects swapped lines', async () => {
    const file = await writeLog(5);
    const ls = lines(file);
    [ls[1], ls[2]] = [ls[2]!, ls[1]!];
    writeLines(file, ls);
    expect(await AuditLog.verify(file)).toEqual({ ok: false, line: 2, problem: expect.stringMatching(/missing, duplicated or out of order/) });
  });

  it('detects an edited entry whose hash the attacker recomputed, at the next entry', async () => {
    const file = await writeLog(5);
    const ls = lines(file);
    const { hash: _, ...body } = JSON.parse(ls[1]!) as Record<string, unknown>;
    const forged = { ...body, sql: 'SELECT 1' };
    ls[1] = canonicalize({ ...forged, hash: sha(canonicalize(forged)) });
    writeLines(file, ls);
    expect(await AuditLog.verify(file)).toEqual({ ok: false, line: 3, problem: expect.stringMatching(/broken chain/) });
  });

  it('detects a line that parses to the same entry but is not its canonical form', async () => {
    const file = await writeLog(2, () => ({ sql: 'a\u001fb' }));
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('\\u001f');
    writeFileSync(file, text.replace('\\u001f', '\\u001F'));
    expect(await AuditLog.verify(file)).toEqual({ ok: false, line: 1, problem: expect.stringMatching(/canonical/) });
  });

  it('truncates a torn final line on open, with a warning, and continues the chain', async () => {
    const file = await writeLog(3);
    const intact = readFileSync(file);
    const head = (await AuditLog.read(file))[2]!.hash;
    const half = lines(file)[0]!.slice(0, 40);
    appendFileSync(file, half);
    // Before recovery verify reports it, and read skips it.
    expect(await AuditLog.verify(file)).toEqual({ ok: false, line: 4, problem: expect.stringMatching(/incomplete final line/) });
    expect(await AuditLog.read(file)).toHaveLength(3);
    const log = await AuditLog.open(file);
    expect(log.warning).toMatch(/dropped an incomplete final line \(40 bytes\)/);
    expect(readFileSync(file).equals(intact)).toBe(true);
    const e = await log.append(input(3));
    await log.close();
    expect(e).toMatchObject({ seq: 3, prev: head });
    expect(await AuditLog.verify(file)).toMatchObject({ ok: true, entries: 4 });
  });

  it('truncates a torn first line', async () => {
    const file = fresh();
    writeFileSync(file, '{"detail":"', { mode: 0o600 });
    const log = await AuditLog.open(file);
    expect(log.warning).toBeDefined();
    expect((await log.append(input(0))).prev).toBe(GENESIS_HASH);
    await log.close();
    expect(await AuditLog.verify(file)).toMatchObject({ ok: true, entries: 1 });
  });

  it('refuses to open a log whose last complete line is corrupt', async () => {
    const file = await writeLog(3);
    const ls = lines(file);
    ls[2] = ls[2]!.replace('alice', 'mallory');
    writeLines(file, ls);
    const err = await AuditLog.open(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CleanroomError);
    expect(err).toMatchObject({ code: 'DATA_INVALID', message: expect.stringMatching(/corrupt/) });
  });

  it('opens a log whose tail is longer than one read chunk', async () => {
    const file = await writeLog(3, (i) => ({ sql: 'x'.repeat(50_000 + i) }));
    const log = await AuditLog.open(file);
    expect((await log.append(input(3))).seq).toBe(3);
    await log.close();
    expect(await AuditLog.verify(file)).toMatchObject({ ok: true, entries: 4 });
  });

  it('detects every single-byte change of a small log (masks 0x01, 0x20, 0x80)', async () => {
    const file = await writeLog(4, (i) => (i === 1 ? { sql: 'é\u001f"\\ 😀' } : {}));
    const bytes = readFileSync(file);
    expect(verifyLog(bytes).ok).toBe(true);
    for (const mask of [0x01, 0x20, 0x80]) {
      for (let i = 0; i < bytes.length; i++) {
        const copy = Buffer.from(bytes);
        copy[i] = copy[i]! ^ mask;
        const r = verifyLog(copy);
        if (r.ok) throw new Error(`flipping byte ${i} with ${mask} went unnoticed`);
      }
    }
  });

  it('property: random logs verify, and flipping any byte fails verification', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const entry = fc.record({
      queryId: fc.string({ maxLength: 32 }),
      event: fc.constantFrom('proposed', 'accepted', 'refused', 'released', 'result', 'failed'),
      querier: text,
      sql: text,
      peers: fc.array(text, { maxLength: 3 }),
      detail: text,
      released: fc.option(fc.record({ groups: fc.nat(), receivers: fc.array(text, { maxLength: 2 }), columns: fc.array(text, { maxLength: 3 }) }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 6 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (es, at, mask) => {
        const file = fresh();
        const log = await AuditLog.open(file);
        for (const e of es) await log.append(e);
        await log.close();
        const r = await AuditLog.verify(file);
        expect(r).toMatchObject({ ok: true, entries: es.length });
        const bytes = readFileSync(file);
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ mask;
        writeFileSync(file, bytes);
        expect((await AuditLog.verify(file)).ok).toBe(false);
        rmSync(file);
      }),
      { numRuns: 100 },
    );
  });
});

describe('auditCommand', () => {
  const run = async (file: string, opts: { verify: boolean; json: boolean }) => {
    const out: string[] = [];
    const code = await auditCommand(file, opts, (s) => out.push(s));
    return { code, out };
  };

  it('prints a table and the entries as JSON lines', async () => {
    const file = await writeLog(3);
    const table = await run(file, { verify: false, json: false });
    expect(table.code).toBe(0);
    expect(table.out[0]).toMatch(/^time \(UTC\)\s+seq\s+event\s+query\s+querier\s+detail$/);
    expect(table.out).toHaveLength(5);
    expect(table.out[2]).toMatch(/proposed\s+q0000000\s+alice\s+SELECT COUNT/);
    expect(table.out[4]).toMatch(/released .*4 group\(s\) to alice \[cat, sum_amount\]/);
    const json = await run(file, { verify: false, json: true });
    expect(json.code).toBe(0);
    expect(json.out.map((l) => JSON.parse(l) as unknown)).toEqual(await AuditLog.read(file));
  });

  it('reports OK with exit code 0', async () => {
    const file = await writeLog(3);
    const { code, out } = await run(file, { verify: true, json: false });
    expect(code).toBe(0);
    expect(out[0]).toBe('audit log OK: 3 entries, chain intact');
    expect(out[1]).toMatch(/^head hash [0-9a-f]{64}$/);
  });

  it('reports TAMPERED with exit code 1', async () => {
    const file = await writeLog(3);
    const ls = lines(file);
    ls[1] = ls[1]!.replace('alice', 'alicf');
    writeLines(file, ls);
    const { code, out } = await run(file, { verify: true, json: false });
    expect(code).toBe(1);
    expect(out).toEqual([expect.stringMatching(/^audit log TAMPERED at line 2: content tampered/)]);
    const json = await run(file, { verify: true, json: true });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out[0]!)).toMatchObject({ ok: false, line: 2 });
  });

  it('throws DATA_INVALID for a missing log', async () => {
    await expect(run(join(dir, 'nope.jsonl'), { verify: true, json: false })).rejects.toMatchObject({ code: 'DATA_INVALID' });
  });
});
