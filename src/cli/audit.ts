import { AuditLog, type AuditEntry } from '../audit/audit-log.js';
import { formatTable } from './table.js';

const SUMMARY_WIDTH = 100;

/**
 * `cleanroom audit`: lists the log as a table (or JSON lines), or with `verify` checks the chain and prints the verdict
 * (as one JSON object with `json`). `out` takes one line at a time, without its newline. Returns the exit code:
 * 1 when verification finds a problem. An unreadable file throws CleanroomError DATA_INVALID.
 */
export async function auditCommand(logFile: string, opts: { verify: boolean; json: boolean }, out: (s: string) => void): Promise<number> {
  if (opts.verify) {
    const r = await AuditLog.verify(logFile);
    if (opts.json) out(JSON.stringify(r));
    else if (r.ok) {
      out(`audit log OK: ${r.entries} entries, chain intact`);
      // A chain cannot show entries cut from its end; comparing this with a copy kept elsewhere can.
      out(`head hash ${r.head}`);
    } else out(`audit log TAMPERED at line ${r.line}: ${r.problem}`);
    return r.ok ? 0 : 1;
  }
  const entries = await AuditLog.read(logFile);
  if (opts.json) {
    for (const e of entries) out(JSON.stringify(e));
    return 0;
  }
  if (entries.length === 0) {
    out('audit log is empty');
    return 0;
  }
  const table = formatTable({
    columns: ['time (UTC)', 'seq', 'event', 'query', 'querier', 'detail'],
    rows: entries.map((e) => [e.time.slice(0, 19).replace('T', ' '), e.seq, e.event, e.queryId.slice(0, 8), e.querier, summary(e)]),
  });
  for (const line of table.split('\n')) out(line);
  return 0;
}

/** What the entry says in one line: what was released, the reason or error, and for a proposal the SQL. */
function summary(e: AuditEntry): string {
  const parts: string[] = [];
  if (e.released) {
    const { groups, receivers, columns } = e.released;
    parts.push(`${groups} group(s) to ${receivers.join(', ') || '(none)'}${columns.length > 0 ? ` [${columns.join(', ')}]` : ''}`);
  }
  if (e.detail) parts.push(e.detail);
  if (e.event === 'proposed') parts.push(e.sql);
  const text = parts.join('; ').replace(/\s+/g, ' ').trim();
  return text.length > SUMMARY_WIDTH ? `${text.slice(0, SUMMARY_WIDTH - 1)}…` : text;
}
