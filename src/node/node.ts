import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { appendFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { selectBackend } from '../crypto/backend.js';
import { createCryptoPool, defaultThreads, type CryptoPool } from '../crypto/pool.js';
import { TableStore } from '../data/table-store.js';
import { CleanroomError, asCleanroomError, errorMessage } from '../errors.js';
import { PROPOSAL_TIMEOUT_MS } from '../limits.js';
import { manifestHash } from '../manifest/canonical.js';
import type { Manifest } from '../manifest/schema.js';
import { parseSignedManifest } from '../manifest/signature.js';
import { parseQuery } from '../query/parse.js';
import { planQuery, type QueryPlan } from '../query/plan.js';
import type { QueryResult } from '../protocol/release.js';
import type { Outcome } from '../protocol/step.js';
import { MAX_SEALED_FRAME_BYTES } from '../transport/channel.js';
import { PeerConnection, type ConnectionParams, type FrameTap } from '../transport/connection.js';
import { loadConfig, type LoadedConfig } from './config.js';
import { readIdentity, type Identity } from './identity.js';
import { startControlServer } from './control-server.js';
import { runSession, type Progress } from './session-runner.js';

export type QueryOutcome =
  | { readonly kind: 'result'; readonly result: QueryResult }
  | { readonly kind: 'released'; readonly queryId: string; readonly groups: number; readonly receivers: readonly string[] };

export interface NodeLog {
  (line: string): void;
}

/**
 * One member's node: its identity, the signed manifest, its own tables, the peer endpoint (WebSocket) and the
 * local control interface (HTTP on loopback). It runs nothing for a manifest that some member has not signed.
 */
export class CleanroomNode {
  private wss: WebSocketServer | undefined;
  private control: Server | undefined;

  private constructor(
    readonly cfg: LoadedConfig,
    readonly identity: Identity,
    readonly manifest: Manifest,
    private readonly hash: Uint8Array,
    readonly pool: CryptoPool,
    private readonly store: TableStore,
    private readonly log: NodeLog,
    private readonly tap: FrameTap | undefined,
  ) {}

  static async open(configFile: string, log: NodeLog = () => {}): Promise<CleanroomNode> {
    const cfg = await loadConfig(configFile);
    const identity = await readIdentity(cfg.path(cfg.config.identityFile));
    if (identity.memberId !== cfg.config.memberId) throw new CleanroomError('CONFIG_INVALID', `identity belongs to ${identity.memberId}, config to ${cfg.config.memberId}`);
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(cfg.path(cfg.config.manifestFile), 'utf8'));
    } catch (err) {
      throw new CleanroomError('MANIFEST_INVALID', `cannot read manifest ${cfg.config.manifestFile}: ${errorMessage(err)}`);
    }
    const { manifest } = parseSignedManifest(doc, true);
    const me = manifest.members.find((m) => m.id === identity.memberId);
    if (!me) throw new CleanroomError('MANIFEST_INVALID', `${identity.memberId} is not a member of collaboration ${manifest.collaborationId}`);
    if (me.publicKey !== Buffer.from(identity.publicKey).toString('hex')) throw new CleanroomError('MANIFEST_INVALID', `the manifest lists another public key for ${me.id} than this node's identity`);
    for (const name of Object.keys(cfg.config.tables)) {
      const t = manifest.tables.find((x) => x.name === name);
      if (!t) throw new CleanroomError('CONFIG_INVALID', `config maps a file to ${name}, which the manifest does not declare`);
      if (t.owner !== me.id) throw new CleanroomError('CONFIG_INVALID', `config maps a file to ${name}, which belongs to ${t.owner}`);
    }
    const missing = manifest.tables.filter((t) => t.owner === me.id && !cfg.config.tables[t.name]);
    if (missing.length > 0) throw new CleanroomError('CONFIG_INVALID', `config maps no file to this member's table(s) ${missing.map((t) => t.name).join(', ')}`);
    const sources = Object.fromEntries(Object.entries(cfg.config.tables).map(([name, s]) => [name, { ...s, path: cfg.path(s.path) }]));
    const store = await TableStore.open(sources, cfg.path(cfg.config.cacheDir));
    const frameLog = process.env.CLEANROOM_FRAME_LOG;
    const tap: FrameTap | undefined = frameLog ? (dir, bytes) => appendFrame(frameLog, dir, bytes) : undefined;
    const pool = createCryptoPool(selectBackend(cfg.config.backend), cfg.config.workers === 'auto' ? defaultThreads() : cfg.config.workers);
    return new CleanroomNode(cfg, identity, manifest, manifestHash(manifest), pool, store, log, tap);
  }

  get memberId(): string {
    return this.identity.memberId;
  }

  async listen(): Promise<void> {
    const { listen, control } = this.cfg.config;
    this.wss = new WebSocketServer({ host: listen.host, port: listen.port, maxPayload: MAX_SEALED_FRAME_BYTES, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      this.wss!.once('listening', resolve);
      this.wss!.once('error', (err) => reject(new CleanroomError('CONFIG_INVALID', `cannot listen on ${listen.host}:${listen.port}: ${err.message}`)));
    });
    this.wss.on('connection', (ws) => {
      PeerConnection.accept(ws, this.connectionParams())
        .then((conn) => this.serve(conn))
        .catch((err) => this.log(`peer connection refused: ${errorMessage(err)}`));
    });
    this.control = await startControlServer(this, control.host, control.port);
    this.log(`node ${this.memberId} of ${this.manifest.collaborationId} (manifest v${this.manifest.version}) listening on ws://${listen.host}:${listen.port}, control on http://${control.host}:${control.port}; crypto backend ${this.pool.backend} on ${this.pool.threads} worker thread(s)`);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    this.store.close();
    await this.pool.close();
  }

  /** Runs a query this node's user submitted: plan and check locally, then propose it to the other member. */
  async query(sql: string, onProgress?: (p: Progress) => void): Promise<QueryOutcome> {
    const queryId = randomBytes(16).toString('hex');
    const plan = await this.plan(sql, this.memberId);
    const peerId = this.peerOf(plan);
    const peer = this.manifest.members.find((m) => m.id === peerId)!;
    await this.prepareOwnTable(plan);
    const conn = await PeerConnection.dial(peer.endpoint, peer.id, this.connectionParams());
    try {
      await conn.send({ type: 'propose', queryId, querier: this.memberId, sql });
      const answer = await conn.next(PROPOSAL_TIMEOUT_MS);
      if (answer.type === 'reject') throw new CleanroomError(refusalCode(answer.code), `${peer.id} refused the query: ${answer.message}`);
      if (answer.type !== 'accept' || answer.queryId !== queryId) throw new CleanroomError('PROTOCOL_VIOLATION', `${peer.id} answered the proposal with ${answer.type}`, { peerFault: true });
      this.log(`query ${queryId} accepted by ${peer.id} (${plan.mode})`);
      return await this.finish(queryId, plan, await runSession(this.sessionContext(queryId, plan, conn, onProgress)));
    } finally {
      conn.close();
    }
  }

  /** A peer dialled in: it may propose one query on this connection. */
  private async serve(conn: PeerConnection): Promise<void> {
    let queryId = '';
    try {
      const msg = await conn.next(PROPOSAL_TIMEOUT_MS);
      if (msg.type !== 'propose') throw new CleanroomError('PROTOCOL_VIOLATION', `expected a proposal, got ${msg.type}`, { peerFault: true });
      queryId = msg.queryId;
      if (msg.querier !== conn.peer) throw new CleanroomError('PROTOCOL_VIOLATION', `${conn.peer} proposed a query in the name of ${msg.querier}`, { peerFault: true });
      let plan: QueryPlan;
      try {
        plan = await this.plan(msg.sql, msg.querier);
        if (this.peerOf(plan) !== conn.peer) throw new CleanroomError('QUERY_INVALID', `the query does not join a table of ${conn.peer} with one of ${this.memberId}`);
        await this.prepareOwnTable(plan);
      } catch (err) {
        const e = asCleanroomError(err);
        this.log(`query ${queryId} from ${conn.peer} refused: ${e.message}`);
        await conn.send({ type: 'reject', queryId, code: e.code, message: e.message.slice(0, 2000) });
        return;
      }
      await conn.send({ type: 'accept', queryId });
      this.log(`query ${queryId} from ${conn.peer} accepted (${plan.mode})`);
      await this.finish(queryId, plan, await runSession(this.sessionContext(queryId, plan, conn)));
    } catch (err) {
      this.log(`query ${queryId || '(none)'} with ${conn.peer} failed: ${errorMessage(err)}`);
    } finally {
      conn.close();
    }
  }

  private async plan(sql: string, querier: string): Promise<QueryPlan> {
    const plan = planQuery(await parseQuery(sql), this.manifest, querier);
    const owners = [plan.aggregator.table.owner, plan.partner.table.owner];
    if (!owners.includes(this.memberId)) {
      throw new CleanroomError('QUERY_INVALID', `this version runs a query between the tables of two members, and ${this.memberId} owns neither ${plan.aggregator.table.name} nor ${plan.partner.table.name}`);
    }
    return plan;
  }

  private peerOf(plan: QueryPlan): string {
    const a = plan.aggregator.table.owner;
    return a === this.memberId ? plan.partner.table.owner : a;
  }

  private prepareOwnTable(plan: QueryPlan): Promise<void> {
    const own = plan.aggregator.table.owner === this.memberId ? plan.aggregator.table : plan.partner.table;
    return this.store.prepare(own);
  }

  private sessionContext(queryId: string, plan: QueryPlan, conn: PeerConnection, onProgress?: (p: Progress) => void) {
    return { queryId, plan, collaborationId: this.manifest.collaborationId, self: this.memberId, conn, pool: this.pool, store: this.store, onProgress };
  }

  private async finish(queryId: string, plan: QueryPlan, outcome: Outcome): Promise<QueryOutcome> {
    if (outcome.kind === 'failed') {
      this.log(`query ${queryId} failed: ${outcome.error.message}`);
      throw outcome.error;
    }
    if (outcome.kind === 'released') {
      this.log(`query ${queryId} done: ${outcome.groups} group(s) released to ${outcome.receivers.join(', ')}`);
      return { kind: 'released', queryId, groups: outcome.groups, receivers: outcome.receivers };
    }
    const dir = this.cfg.path(this.cfg.config.resultsDir);
    await mkdir(dir, { recursive: true });
    await writeFile(`${dir}/${queryId}.json`, JSON.stringify({ querier: plan.querier, ...outcome.result }, null, 2) + '\n');
    this.log(`query ${queryId} done: result with ${outcome.result.rows.length} row(s) saved in ${this.cfg.config.resultsDir}/${queryId}.json`);
    return { kind: 'result', result: outcome.result };
  }

  private connectionParams(): ConnectionParams {
    return { identity: this.identity, manifest: this.manifest, manifestHash: this.hash, tap: this.tap };
  }
}

function refusalCode(code: string): CleanroomError['code'] {
  const known = ['RULE_VIOLATION', 'QUERY_INVALID', 'DATA_INVALID', 'CONFIG_INVALID'] as const;
  return (known as readonly string[]).includes(code) ? (code as CleanroomError['code']) : 'ABORTED';
}

/** One record per frame: direction byte, 4-byte length, the plaintext. */
function appendFrame(file: string, dir: 'in' | 'out', bytes: Uint8Array): void {
  const head = Buffer.alloc(5);
  head[0] = dir === 'in' ? 0x69 : 0x6f;
  head.writeUInt32LE(bytes.length, 1);
  appendFileSync(file, Buffer.concat([head, bytes]));
}
