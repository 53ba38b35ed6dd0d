import canonicalizeModule from 'canonicalize';
import { createHash } from 'node:crypto';
import { readFile, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { CleanroomError, errorMessage } from '../errors.js';
import { dropIncompleteLine, openJournal } from '../journal/journal-file.js';

/*
 * The audit log: one JSON object per line (JSON Lines), append-only, hash-chained.
 *
 * - Each line is exactly the RFC 8785 (JCS) serialisation of its entry followed by "\n". `hash` is the SHA-256 of the
 *   canonical serialisation of the entry without `hash`; `prev` is the previous entry's `hash` (64 zeros for the first).
 *   Because a line must be byte for byte the canonical form of what it parses to, `prev` commits to every byte of the
 *   previous line, and changing any single byte of the file is detected (there is no whitespace or escape slack).
 * - An append is one write of the whole line, then fsync, before it resolves: an entry the caller saw acknowledged
 *   survives a crash. Appends go through a promise queue, so concurrent appends never interleave.
 * - A crash during an append can leave an incomplete final line (no trailing "\n"). That line was never acknowledged,
 *   so `open` truncates it and reports a warning. A complete final line that does not check out is not a crash
 *   artefact: `open` refuses it (DATA_INVALID) rather than guess.
 * - One writer per file (the node). A hash chain shows edits, deletions and reordering inside the log, not entries
 *   cut from its end: keep the head hash that `verify` reports somewhere else to detect that.
 */

// canonicalize is CommonJS whose typings declare an ES default export; at run time the default import is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** The log's file name inside a node directory. */
export const DEFAULT_AUDIT_FILE = 'audit.jsonl';
/** `prev` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');

export const AuditEvent = z.enum(['proposed', 'accepted', 'refused', 'released', 'result', 'failed', 'cancelled']);
export type AuditEvent = z.infer<typeof AuditEvent>;

/** What left the node for a query: counts and names only, never row values or join keys (strict: no other fields). */
export const AuditRelease = z.strictObject({
  groups: z.number().int().nonnegative(),
  receivers: z.array(z.string()),
  columns: z.array(z.string()),
});
export type AuditRelease = z.infer<typeof AuditRelease>;

export const AuditEntry = z.strictObject({
  seq: z.number().int().nonnegative(),
  time: z.iso.datetime(),
  queryId: z.string(),
  event: AuditEvent,
  /** Member id of who submitted the query. */
  querier: z.string(),
  sql: z.string(),
  /** Member ids taking part in the query, this node included. */
  peers: z.array(z.string()),
  /** Free text: refusal rule and reason, error code and message. */
  detail: z.string(),
  released: AuditRelease.optional(),
  prev: Sha256Hex,
  hash: Sha256Hex,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** What the caller supplies; the log fills in seq, time, prev and hash. */
export const AuditInput = AuditEntry.omit({ seq: true, time: true, prev: true, hash: true });
export type AuditInput = z.infer<typeof AuditInput>;

export type VerifyResult = { ok: true; entries: number; head: string } | { ok: false; line: number; problem: string };

const NL = 0x0a;
const TAIL_CHUNK = 64 * 1024;

export class AuditLog {
  /** Set when `open` dropped an incomplete final line: the node should log it. */
  readonly warning: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** After a failed write or fsync the file's state is unknown; no further appends through this instance. */
  private broken: CleanroomError | undefined;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    private seq: number,
    private prev: string,
    private size: number,
    warning: string | undefined,
  ) {
    this.warning = warning;
  }

  /** Opens (creating with mode 0600 if missing) and recovers seq and the last hash from the tail. */
  static async open(file: string): Promise<AuditLog> {
    const fh = await openJournal(file, (err) => unreadable(file, err));
    try {
      const size = (await fh.stat()).size;
      const { last, complete } = await readTail(fh, size);
      const warning = await dropIncompleteLine(fh, `audit log ${file}`, size, complete);
      if (last === undefined) return new AuditLog(file, fh, 0, GENESIS_HASH, complete, warning);
      const r = checkEntry(last);
      if (!r.ok) throw new CleanroomError('DATA_INVALID', `audit log ${file} is corrupt: its last complete line is ${r.problem}; run cleanroom audit --verify`);
      return new AuditLog(file, fh, r.entry.seq + 1, r.entry.hash, complete, warning);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err instanceof CleanroomError ? err : unreadable(file, err);
    }
  }

  /** Appends one entry; resolves once it is on disk (written and fsynced). */
  append(e: AuditInput): Promise<AuditEntry> {
    const run = this.queue.then(() => this.write(e));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    await this.queue;
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }

  private async write(input: AuditInput): Promise<AuditEntry> {
    if (this.closed) throw new CleanroomError('INTERNAL', `audit log ${this.file} is closed`);
    if (this.broken) throw this.broken;
    const fields = AuditInput.safeParse(input);
    if (!fields.success) throw new CleanroomError('INTERNAL', `not an audit entry: ${firstIssue(fields.error)}`);
    const body = { seq: this.seq, time: new Date().toISOString(), ...fields.data, prev: this.prev };
    const entry: AuditEntry = { ...body, hash: sha256Hex(canonical(body)) };
    const line = Buffer.from(canonical(entry) + '\n', 'utf8');
    try {
      // One write of the whole line (the loop only repeats after a short write), then fsync before acknowledging.
      for (let off = 0; off < line.length; ) off += (await this.fh.write(line, off, line.length - off)).bytesWritten;
      await this.fh.sync();
    } catch (err) {
      // Cut back whatever reached the file so no unacknowledged entry stays in the chain; stop appending either way.
      await this.fh.truncate(this.size).catch(() => {});
      this.broken = new CleanroomError('INTERNAL', `cannot write audit log ${this.file}: ${errorMessage(err)}`, { cause: err });
      throw this.broken;
    }
    this.seq += 1;
    this.prev = entry.hash;
    this.size += line.length;
    return entry;
  }

  /** All complete entries, checked against the schema only (use `verify` for the chain). An incomplete final line is skipped. */
  static async read(file: string): Promise<AuditEntry[]> {
    const { lines } = splitLines(await readLog(file));
    return lines.map((raw, i) => {
      let doc: unknown;
      try {
        doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
      } catch (err) {
        throw new CleanroomError('DATA_INVALID', `audit log ${file} line ${i + 1} is unparsable: ${errorMessage(err)}`);
      }
      const parsed = AuditEntry.safeParse(doc);
      if (!parsed.success) throw new CleanroomError('DATA_INVALID', `audit log ${file} line ${i + 1} is not an audit entry: ${firstIssue(parsed.error)}`);
      return parsed.data;
    });
  }

  /** Recomputes every hash and checks seq continuity and prev links; reports the first bad line (1-based). */
  static async verify(file: string): Promise<VerifyResult> {
    return verifyLog(await readLog(file));
  }
}

/** `verify` on bytes in memory. */
export function verifyLog(bytes: Uint8Array): VerifyResult {
  const { lines, torn } = splitLines(bytes);
  let prev = GENESIS_HASH;
  for (const [i, raw] of lines.entries()) {
    const r = checkEntry(raw);
    if (!r.ok) return { ok: false, line: i + 1, problem: r.problem };
    if (r.entry.seq !== i) return { ok: false, line: i + 1, problem: `seq ${r.entry.seq} where ${i} was expected: an entry is missing, duplicated or out of order` };
    if (r.entry.prev !== prev) return { ok: false, line: i + 1, problem: 'broken chain: prev is not the hash of the previous entry' };
    prev = r.entry.hash;
  }
  if (torn) return { ok: false, line: lines.length + 1, problem: 'incomplete final line (no trailing newline): a write cut short by a crash, or an edited file' };
  return { ok: true, entries: lines.length, head: prev };
}

type Check = { ok: true; entry: AuditEntry } | { ok: false; problem: string };

/** One line on its own: parses, is an entry, hashes to its `hash`, and is exactly its canonical serialisation. */
function checkEntry(raw: Uint8Array): Check {
  if (raw.length === 0) return { ok: false, problem: 'empty line' };
  let text: string;
  let doc: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `unparsable: ${errorMessage(err)}` };
  }
  const parsed = AuditEntry.safeParse(doc);
  if (!parsed.success) return { ok: false, problem: `not an audit entry: ${firstIssue(parsed.error)}` };
  const { hash, ...body } = parsed.data;
  if (sha256Hex(canonical(body)) !== hash) return { ok: false, problem: 'content tampered: the entry does not hash to its hash field' };
  // Same entry, other bytes (say \u001F for \u001f, or a duplicated key): still an edit of the file.
  if (canonical(parsed.data) !== text) return { ok: false, problem: 'content tampered: the line is not the canonical serialisation of its entry' };
  return { ok: true, entry: parsed.data };
}

function splitLines(bytes: Uint8Array): { lines: Uint8Array[]; torn: boolean } {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = bytes.indexOf(NL); i !== -1; i = bytes.indexOf(NL, start)) {
    lines.push(bytes.subarray(start, i));
    start = i + 1;
  }
  return { lines, torn: start < bytes.length };
}

/**
 * The last complete line and where the complete lines end, reading backwards from the end in chunks so opening a
 * long log does not read all of it. Whatever follows the last newline is an incomplete line.
 */
async function readTail(fh: FileHandle, size: number): Promise<{ last: Uint8Array | undefined; complete: number }> {
  let buf = Buffer.alloc(0);
  let pos = size;
  for (;;) {
    const start = Math.max(0, pos - TAIL_CHUNK);
    const chunk = Buffer.alloc(pos - start);
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, start);
    if (bytesRead !== chunk.length) throw new Error('short read');
    buf = Buffer.concat([chunk, buf]);
    pos = start;
    const lastNl = buf.lastIndexOf(NL);
    const prevNl = lastNl > 0 ? buf.lastIndexOf(NL, lastNl - 1) : -1;
    if (prevNl !== -1 || pos === 0) {
      const complete = lastNl === -1 ? pos : pos + lastNl + 1;
      return { last: lastNl === -1 ? undefined : buf.subarray(prevNl + 1, lastNl), complete };
    }
  }
}

async function readLog(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    throw unreadable(file, err);
  }
}

function canonical(x: unknown): string {
  const text = canonicalize(x);
  if (text === undefined) throw new TypeError('audit entry is not serialisable');
  return text;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function firstIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  return issue ? `${issue.path.join('.') || '(entry)'}: ${issue.message}` : 'invalid';
}

function unreadable(file: string, err: unknown): CleanroomError {
  return new CleanroomError('DATA_INVALID', `cannot read audit log ${file}: ${errorMessage(err)}`, { cause: err });
}
