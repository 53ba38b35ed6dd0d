import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditLog, type AuditEntry } from '../audit/audit-log.js';
import { costOf, type BudgetLedger } from '../budget/ledger.js';
import type { LoadedConfig } from '../config/node-config.js';
import { amountText } from '../dp/accounting.js';
import { toText } from '../dp/rational.js';
import { asCleanroomError, CleanroomError, RuleViolation } from '../errors.js';
import { MAX_CONSOLE_HISTORY } from '../limits.js';
import { manifestHash } from '../manifest/canonical.js';
import { holdersOf, type Manifest, type PrivacyPolicy, type Table } from '../manifest/schema.js';
import { parseSignedManifest, unsignedMembers } from '../manifest/signature.js';
import { parseQuery } from '../query/parse.js';
import { planQuery } from '../query/plan.js';
import { tableBudget } from '../query/privacy-plan.js';
import { queriesLeft, queriesLeftText } from '../query/queries-left.js';
import type { BudgetView, CollaborationView, HashCacheView, PendingManifestView, ExampleQueryView, HistoryItem, HistoryView, PlanView, SchemaView, TableDataView, TableView } from './api.js';
import { exampleCandidates } from './example-queries.js';
import { preview } from './preview.js';
import { probeEndpoint } from './reachability.js';
import { describeColumn, describePrivacy, describeRules } from './rules-text.js';
import { schemaTables } from './schema-view.js';

export interface ConsoleDeps {
  readonly cfg: LoadedConfig;
  readonly memberId: string;
  readonly manifest: Manifest;
  /** The live ledger of the running node: what its gauges show is what its next charge is checked against. */
  readonly budget: BudgetLedger;
  readonly auditFile: string;
  readonly budgetFile: string;
  /**
   * Checks this node's own tables against the manifest, every row (src/node/table-check.ts): a file is read again
   * only when it changed since its last check, a database table every time. Without it the Tables page shows no
   * source.
   */
  readonly checkTables?: () => Promise<readonly TableDataView[]>;
  /** A newer version in the manifest file that the node does not run yet, and why (src/node/manifest-watch.ts). */
  readonly pending?: () => PendingManifestView | undefined;
  /** The background hashing of the own tables' join keys, by table (src/node/cache-warmer.ts). */
  readonly hashCache?: () => readonly (HashCacheView & { readonly table: string })[];
}

/** How the node's audit details name the manifest a query was checked against (src/node/coordinator.ts planDetail). */
const MANIFEST_IN_DETAIL = /; manifest v(\d+)$/;

/** A query id as the node draws it (16 random bytes, hex): nothing else ever names a result file. */
const QUERY_ID = /^[0-9a-f]{32}$/;

/** What the console's pages show, read from the node's manifest, ledger, audit log and result files. */
export class ConsoleData {
  private hash: string;
  /** The schema and examples of a manifest are worked out once, again only when the node loads a newer one. */
  private schemaView: { readonly of: Manifest; readonly view: Promise<SchemaView> } | undefined;

  constructor(private d: ConsoleDeps) {
    this.hash = Buffer.from(manifestHash(d.manifest)).toString('hex');
  }

  /** The node loaded a newer manifest: every page reads it from now on. */
  useManifest(manifest: Manifest): void {
    this.d = { ...this.d, manifest };
    this.hash = Buffer.from(manifestHash(manifest)).toString('hex');
  }

  async collaboration(): Promise<CollaborationView> {
    const m = this.d.manifest;
    const { signedBy, fileMatches } = await this.signatures();
    const members = await Promise.all(
      m.members.map(async (member) => {
        const self = member.id === this.d.memberId;
        const probe = self ? { reachable: true } : await probeEndpoint(member.endpoint);
        return { id: member.id, name: member.name, endpoint: member.endpoint, self, querier: m.queriers.includes(member.id), receiver: m.receivers.includes(member.id), ...probe };
      }),
    );
    const pending = this.d.pending?.();
    return { collaborationId: m.collaborationId, name: m.name, version: m.version, hash: this.hash, self: this.d.memberId, signedBy, fileMatches, members, ...(pending ? { pending } : {}) };
  }

  async tables(): Promise<TableView[]> {
    const now = new Date();
    const checks = await this.checks(now);
    return this.d.manifest.tables.map((t) => {
      const data = checks.find((c) => c.table === t.name);
      const own = holdersOf(t).includes(this.d.memberId);
      const privacy = describePrivacy(t);
      const p = t.rules.privacy;
      return {
        name: t.name,
        owner: t.owner,
        holders: holdersOf(t),
        own,
        columns: t.columns.map((c) => describeColumn(t, c)),
        rules: describeRules(t),
        ...(privacy ? { privacy } : {}),
        ...(p && own ? { budget: this.gauge(t, p, now) } : {}),
        ...(data ? { data } : {}),
        ...(own && this.d.hashCache ? { hashCache: this.d.hashCache().filter((h) => h.table === t.name).map(({ table: _t, ...h }) => h) } : {}),
      };
    });
  }

  /** The own tables' checks; a check that throws is shown as its error on each own table rather than failing the page. */
  private async checks(now: Date): Promise<readonly TableDataView[]> {
    if (!this.d.checkTables) return [];
    try {
      return await this.d.checkTables();
    } catch (err) {
      const error = asCleanroomError(err).message;
      const own = this.d.manifest.tables.filter((t) => holdersOf(t).includes(this.d.memberId));
      const at = now.toISOString();
      return own.map((t) => ({ table: t.name, kind: 'file', source: '', problems: [], total: 0, exact: false, unusable: false, checkedAt: at, error }));
    }
  }

  /** The Query page's schema browser and examples; an example is listed only when the planner allows it this member. */
  schema(): Promise<SchemaView> {
    const manifest = this.d.manifest;
    if (this.schemaView?.of !== manifest) {
      const view = (async () => {
        const examples: ExampleQueryView[] = [];
        for (const e of exampleCandidates(manifest, this.d.memberId)) if (await this.allows(manifest, e.sql)) examples.push(e);
        return { self: this.d.memberId, tables: schemaTables(manifest, this.d.memberId), examples };
      })();
      this.schemaView = { of: manifest, view };
    }
    return this.schemaView.view;
  }

  /** Parse, plan and preview as `cleanroom query --preview` does: the planner's refusal is an answer here, not an error. */
  async plan(sql: string): Promise<PlanView> {
    try {
      const plan = planQuery(await parseQuery(sql), this.d.manifest, this.d.memberId);
      const outputs = plan.outputs.map((o) => ({ name: o.name, kind: o.kind }));
      return { ok: true, mode: plan.mode, members: plan.members, outputs, preview: await preview(plan, this.d.memberId, this.d.budgetFile) };
    } catch (err) {
      const e = asCleanroomError(err);
      return { ok: false, code: e.code, message: e.message, ...(e instanceof RuleViolation ? { rule: e.rule, allowed: e.allowed } : {}) };
    }
  }

  /** Whether the planner allows this member `sql` under `manifest`, as plan() checks it (no preview). */
  private async allows(manifest: Manifest, sql: string): Promise<boolean> {
    try {
      planQuery(await parseQuery(sql), manifest, this.d.memberId);
      return true;
    } catch {
      return false;
    }
  }

  async history(): Promise<HistoryView> {
    const audit = await AuditLog.verify(this.d.auditFile);
    // A log whose lines no longer parse still has a verdict to show: where it was tampered with.
    const entries = await AuditLog.read(this.d.auditFile).catch((err: unknown) => {
      if (audit.ok) throw err;
      return [];
    });
    const byQuery = new Map<string, AuditEntry[]>();
    for (const e of entries) byQuery.set(e.queryId, [...(byQuery.get(e.queryId) ?? []), e]);
    const newest = [...byQuery.values()].reverse();
    const items = await Promise.all(newest.slice(0, MAX_CONSOLE_HISTORY).map((es) => this.item(es)));
    return { self: this.d.memberId, items, omitted: Math.max(0, newest.length - MAX_CONSOLE_HISTORY), audit };
  }

  async result(queryId: string): Promise<unknown> {
    if (!QUERY_ID.test(queryId)) throw new CleanroomError('QUERY_INVALID', 'a query id is 32 lowercase hex digits');
    const text = await readFile(this.resultFile(queryId), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  }

  private async item(es: readonly AuditEntry[]): Promise<HistoryItem> {
    const first = es[0]!;
    const last = es[es.length - 1]!;
    const released = es.find((e) => e.released)?.released;
    const version = es.map((e) => MANIFEST_IN_DETAIL.exec(e.detail)?.[1]).find((v) => v !== undefined);
    const charged = this.d.budget
      .entries()
      .filter((c) => c.queryId === first.queryId)
      .map((c) => {
        const cost = costOf(c);
        return { table: c.table, cost: amountText(cost.unit, cost.amount) };
      });
    const hasResult = last.event === 'result' && (await readFile(this.resultFile(first.queryId)).then(() => true, () => false));
    return {
      queryId: first.queryId,
      time: first.time,
      querier: first.querier,
      sql: first.sql,
      status: last.event,
      ...(last.event === 'refused' || last.event === 'failed' || last.event === 'cancelled' ? { reason: last.detail } : {}),
      ...(released ? { released } : {}),
      events: es.map((e) => ({ seq: e.seq, time: e.time, event: e.event, detail: e.detail })),
      hasResult,
      dp: es.some((e) => e.detail.includes('differentially private')) || charged.length > 0,
      charged,
      ...(version !== undefined ? { manifestVersion: Number(version) } : {}),
      durationMs: Date.parse(last.time) - Date.parse(first.time),
    };
  }

  private resultFile(queryId: string): string {
    return join(this.d.cfg.path(this.d.cfg.config.resultsDir), `${queryId}.json`);
  }

  private gauge(t: Table, policy: PrivacyPolicy, now: Date): BudgetView {
    const table = t.name;
    const b = tableBudget(policy);
    const remaining = this.d.budget.remaining(table, b, now);
    const left = queriesLeft(t, remaining);
    const next = b.refresh === 'month' ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString().slice(0, 10) : undefined;
    return {
      unit: b.unit === 'rho' ? 'ρ' : 'ε',
      budget: toText(b.amount),
      spent: toText(this.d.budget.spent(table, b, now)),
      remaining: toText(remaining),
      perQuery: toText(left.perQuery.amount),
      queriesLeft: Number(left.queries),
      buys: queriesLeftText(t, left, remaining),
      refresh: b.refresh,
      ...(next ? { nextRefresh: next } : {}),
    };
  }

  /** Who signed, read from the manifest file: the node keeps the manifest it started with, not its signatures. */
  private async signatures(): Promise<{ signedBy: string[]; fileMatches: boolean }> {
    const file = this.d.cfg.path(this.d.cfg.config.manifestFile);
    try {
      const signed = parseSignedManifest(JSON.parse(await readFile(file, 'utf8')), false);
      const fileMatches = Buffer.from(manifestHash(signed.manifest)).toString('hex') === this.hash;
      const unsigned = new Set(unsignedMembers(signed));
      return { signedBy: fileMatches ? signed.manifest.members.map((m) => m.id).filter((id) => !unsigned.has(id)) : [], fileMatches };
    } catch {
      return { signedBy: [], fileMatches: false };
    }
  }
}
