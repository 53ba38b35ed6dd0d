import type { MatchView } from '../control/control-event.js';
import type { JoinKeySpec, Table } from '../manifest/schema.js';
import { matchReport } from './match-report.js';
import type { Server } from 'node:http';
import { AuditLog, DEFAULT_AUDIT_FILE } from '../audit/audit-log.js';
import { BudgetLedger, DEFAULT_BUDGET_FILE } from '../budget/ledger.js';
import type { LoadedConfig } from '../config/node-config.js';
import { ConsoleData } from '../console/console-data.js';
import { startControlServer } from '../control/control-server.js';
import { selectBackend } from '../crypto/backend.js';
import { createCryptoPool, defaultThreads, type CryptoPool } from '../crypto/pool.js';
import { TableStore } from '../data/table-store.js';
import { CleanroomError } from '../errors.js';
import { STOP_GRACE_MS } from '../limits.js';
import { manifestHash } from '../manifest/canonical.js';
import type { Identity } from '../manifest/identity.js';
import type { Manifest } from '../manifest/schema.js';
import type { ConnectionParams, FrameTap } from '../transport/connection.js';
import { PeerEndpoint } from '../transport/endpoint.js';
import type { QueryOutcome } from '../query/result.js';
import { QueryCoordinator } from './coordinator.js';
import type { Progress } from './driver.js';
import { loadNodeSetup } from './node-setup.js';
import { checkTables } from './table-check.js';


export interface NodeLog {
  (line: string): void;
}

/**
 * One member's node: its identity, the signed manifest, its own tables, the peer endpoint (WebSocket) and the
 * local control interface (HTTP on loopback). It runs nothing for a manifest that some member has not signed.
 */
export interface NodeOptions {
  /**
   * Sees the plaintext of every frame this node sends and receives. A seam for tests that check what crosses the
   * wire, in the process that runs the node: no configuration, variable or command of the product sets it.
   */
  readonly tap?: FrameTap;
}

export class CleanroomNode {
  private endpoint: PeerEndpoint | undefined;
  private control: Server | undefined;
  private readonly coordinator: QueryCoordinator;
  /** What the web console's pages read (the control interface serves them). */
  readonly console: ConsoleData;
  private askStop: () => void = () => {};
  /** Settles when the operator asked the node to stop (`cleanroom stop`, POST /stop); whoever runs the node then calls stop(). */
  readonly stopRequested = new Promise<void>((r) => (this.askStop = r));

  private constructor(
    readonly cfg: LoadedConfig,
    readonly identity: Identity,
    readonly manifest: Manifest,
    private readonly hash: Uint8Array,
    readonly pool: CryptoPool,
    private readonly store: TableStore,
    private readonly log: NodeLog,
    private readonly tap: FrameTap | undefined,
    private readonly audit: AuditLog,
    private readonly budget: BudgetLedger,
  ) {
    this.coordinator = new QueryCoordinator({ cfg, memberId: identity.memberId, manifest, pool, store, audit, budget, log, connectionParams: this.connectionParams() });
    this.console = new ConsoleData({ cfg, memberId: identity.memberId, manifest, budget, auditFile: cfg.path(DEFAULT_AUDIT_FILE), budgetFile: cfg.path(DEFAULT_BUDGET_FILE) });
  }

  /**
   * Opens a node directory and checks every row of its tables before it serves anything: all problems are logged
   * at once, and the node refuses to start when some table can serve no query at all.
   */
  static async open(configFile: string, log: NodeLog = () => {}, options: NodeOptions = {}): Promise<CleanroomNode> {
    const { cfg, identity, manifest, ownTables } = await loadNodeSetup(configFile);
    const store = await TableStore.open(cfg.tables, cfg.path(cfg.config.cacheDir));
    try {
      const checked = await checkTables(store, ownTables);
      for (const line of checked.lines) log(line);
      if (checked.unusable.length > 0) throw new CleanroomError('DATA_INVALID', `table(s) ${checked.unusable.join(', ')} cannot serve any query; the log above lists every problem (cleanroom check <dir> prints them)`);
    } catch (err) {
      store.close();
      throw err;
    }
    const pool = createCryptoPool(selectBackend(cfg.config.backend), cfg.config.workers === 'auto' ? defaultThreads() : cfg.config.workers);
    const audit = await AuditLog.open(cfg.path(DEFAULT_AUDIT_FILE));
    if (audit.warning) log(audit.warning);
    const budget = await BudgetLedger.open(cfg.path(DEFAULT_BUDGET_FILE));
    if (budget.warning) log(budget.warning);
    return new CleanroomNode(cfg, identity, manifest, manifestHash(manifest), pool, store, log, options.tap, audit, budget);
  }

  get memberId(): string {
    return this.identity.memberId;
  }

  async listen(): Promise<void> {
    const { listen, control } = this.cfg.config;
    this.endpoint = await PeerEndpoint.listen({ host: listen.host, port: listen.port, params: this.connectionParams(), onPeer: (conn) => this.coordinator.serve(conn), log: this.log });
    this.control = await startControlServer(this, { host: control.host, port: control.port, nodeDir: this.cfg.baseDir });
    this.log(`node ${this.memberId} of ${this.manifest.collaborationId} (manifest v${this.manifest.version}) listening on ws://${listen.host}:${listen.port}, control on http://${control.host}:${control.port}; crypto backend ${this.pool.backend} on ${this.pool.threads} worker thread(s)`);
  }

  /** The control interface's POST /stop: once its answer is out, whoever runs the node calls stop(). */
  requestStop(answered: Promise<void>): { running: number; graceMs: number } {
    void answered.then(() => this.askStop());
    return { running: this.coordinator.drain.size, graceMs: STOP_GRACE_MS };
  }

  /**
   * A graceful stop: no new query from now on (this member's or a peer's proposal), up to `graceMs` for the running
   * ones to end, then close(), which aborts any still running. `cutShort` (a signal) ends the wait early.
   */
  async stop(graceMs = STOP_GRACE_MS, cutShort?: Promise<void>): Promise<void> {
    const running = this.coordinator.drain.size;
    if (running > 0) this.log(`stopping: refusing new queries; waiting up to ${graceMs / 1000} s for ${running} running query(ies)`);
    const left = await this.coordinator.drain.stop(graceMs, cutShort);
    if (left > 0) this.log(`stopping: ${left} query(ies) still running are aborted`);
    await this.close();
    this.log('stopped');
  }

  /**
   * Stops at once: running queries are aborted (their connections close, so every member's side of them fails). The
   * control port closes last, so a client that sees it closed (`cleanroom stop`) knows the node has let go of its
   * files: a node started again on the directory at once finds its audit log and ledger closed.
   */
  async close(): Promise<void> {
    void this.coordinator.drain.stop(0);
    await this.endpoint?.close();
    this.coordinator.close();
    this.store.close();
    await this.pool.close();
    await this.audit.close();
    await this.budget.close();
    const control = this.control;
    if (control) {
      const closed = new Promise<void>((r) => control.close(() => r()));
      // A query's answer stream still open would hold the port for as long as the query runs.
      control.closeAllConnections();
      await closed;
    }
  }

  /** Runs a query this node's user submitted: plan and check locally, then propose it to every other member in it. */
  query(sql: string, onProgress?: (p: Progress) => void): Promise<QueryOutcome> {
    return this.coordinator.query(sql, onProgress);
  }

  /** This member's match report of `table` against `partner`'s tables: one count-only query each (match-report.ts). */
  match(table: string, partner: string): Promise<MatchView[]> {
    return matchReport({ manifest: this.manifest, self: this.memberId, ownKeys: (t, k) => this.ownKeys(t, k), query: (sql) => this.query(sql) }, table, partner);
  }

  /** The distinct normalised keys of an own table, unfiltered: read for this node's operator, never sent. */
  private async ownKeys(table: Table, key: JoinKeySpec): Promise<number> {
    const side = { table, filters: [], key: { columns: [key], combine: 'and' as const } };
    try {
      return await this.store.distinctKeys(side);
    } finally {
      await this.store.release(side);
    }
  }

  private connectionParams(): ConnectionParams {
    return { identity: this.identity, manifest: this.manifest, manifestHash: this.hash, tap: this.tap };
  }
}
