import type { MatchView } from '../control/control-event.js';
import type { JoinKeySpec, Table } from '../manifest/schema.js';
import { matchReport } from './match-report.js';
import { CacheWarmer } from './cache-warmer.js';
import type { WarmState } from '../control/control-event.js';
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
import { holdersOf, type Manifest } from '../manifest/schema.js';
import type { ConnectionParams, FrameTap } from '../transport/connection.js';
import { PeerEndpoint } from '../transport/endpoint.js';
import type { QueryOutcome } from '../query/result.js';
import { QueryCoordinator } from './coordinator.js';
import type { Progress } from './driver.js';
import { ManifestWatch } from './manifest-watch.js';
import { loadNodeSetup, tablesOfNode } from './node-setup.js';
import { checkTables } from './table-check.js';
import { tableCheckViews } from './table-check-view.js';


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
  /**
   * The manifest in force with the handshake parameters of its hash: replaced as one when a newer version signed by
   * every member is loaded (useManifest); the peer endpoint reads it for each connection.
   */
  private params: ConnectionParams;
  /** The manifest file, watched for a new version while the node listens. */
  readonly manifestWatch: ManifestWatch;
  /** Hashes this node's own join keys ahead of its queries (no cold first query). */
  private readonly warmer: CacheWarmer;

  private constructor(
    readonly cfg: LoadedConfig,
    readonly identity: Identity,
    manifest: Manifest,
    hash: Uint8Array,
    readonly pool: CryptoPool,
    private readonly store: TableStore,
    private readonly log: NodeLog,
    tap: FrameTap | undefined,
    private readonly audit: AuditLog,
    private readonly budget: BudgetLedger,
  ) {
    this.params = { identity, manifest, manifestHash: hash, tap };
    this.coordinator = new QueryCoordinator({ cfg, memberId: identity.memberId, manifest, pool, store, audit, budget, log, connectionParams: this.params });
    const own = manifest.tables.filter((t) => holdersOf(t).includes(identity.memberId));
    this.warmer = new CacheWarmer({ store, pool, collaborationId: manifest.collaborationId, tables: own, sources: cfg.tables, databaseRefreshMs: cfg.config.databaseHashRefreshMs, log });
    this.manifestWatch = new ManifestWatch({ file: cfg.path(cfg.config.manifestFile), running: () => this.manifest, fits: (m) => tablesOfNode(m, cfg, identity), load: (m) => this.useManifest(m), log });
    // The own tables of the manifest in force when the page asks.
    const checkOwn = () => tableCheckViews(store, this.manifest.tables.filter((t) => holdersOf(t).includes(identity.memberId)), cfg.tables);
    this.console = new ConsoleData({ cfg, memberId: identity.memberId, manifest, budget, auditFile: cfg.path(DEFAULT_AUDIT_FILE), budgetFile: cfg.path(DEFAULT_BUDGET_FILE), checkTables: checkOwn, pending: () => this.manifestWatch.pending, hashCache: () => this.warmer.status });
  }

  /** The manifest new queries are checked against; a query keeps the one it started with. */
  get manifest(): Manifest {
    return this.params.manifest;
  }

  /**
   * Puts a newer manifest in force, synchronously: the peer endpoint's next handshake, this node's next query and
   * the console read it from now on; a query already running holds the parameters it started with.
   */
  private useManifest(manifest: Manifest): void {
    this.params = { ...this.params, manifest, manifestHash: manifestHash(manifest) };
    this.coordinator.useManifest(this.params);
    this.console.useManifest(manifest);
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

  get hashCache(): readonly WarmState[] {
    return this.warmer.status;
  }

  get memberId(): string {
    return this.identity.memberId;
  }

  async listen(): Promise<void> {
    const { listen, control } = this.cfg.config;
    const node = this;
    this.endpoint = await PeerEndpoint.listen({
      host: listen.host,
      port: listen.port,
      // Read for each connection: a manifest loaded while the node runs is the one its next handshake compares.
      get params() {
        return node.params;
      },
      onPeer: (conn) => this.coordinator.serve(conn),
      log: this.log,
    });
    this.control = await startControlServer(this, { host: control.host, port: control.port, nodeDir: this.cfg.baseDir });
    this.log(`node ${this.memberId} of ${this.manifest.collaborationId} (manifest v${this.manifest.version}) listening on ws://${listen.host}:${listen.port}, control on http://${control.host}:${control.port}; crypto backend ${this.pool.backend} on ${this.pool.threads} worker thread(s)`);
    this.manifestWatch.start();
    this.warmer.start();
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
    await this.manifestWatch.stop();
    await this.warmer.stop();
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

  /** Cancels a running query of this node's users (POST /query/<id>/cancel); false when none of that id runs. */
  cancel(queryId: string): boolean {
    return this.coordinator.cancel(queryId);
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
}
