import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CleanroomError, errorMessage } from '../errors.js';
import {
  HANDSHAKE_TIMEOUT_MS,
  MAX_CLAIMED_HANDSHAKES_PER_MEMBER,
  MAX_CLAIMED_HANDSHAKES_PER_SOURCE,
  MAX_UNAUTHENTICATED_CONNECTIONS,
  MAX_UPGRADE_HEADER_BYTES,
} from '../limits.js';
import { MAX_SEALED_FRAME_BYTES } from './channel.js';
import { PeerConnection, type ConnectionParams } from './connection.js';
import { PreauthBudget } from './preauth-budget.js';
import { PreauthPool } from './preauth-pool.js';
import { sourceOf } from './source-address.js';

export interface EndpointOptions {
  readonly host: string;
  readonly port: number;
  readonly params: ConnectionParams;
  /** Serves every connection whose peer proved a manifest identity; a failure it reports is logged. */
  readonly onPeer: (conn: PeerConnection) => Promise<void>;
  /** The node operator's log: why each refused connection was refused goes there, and nowhere else. */
  readonly log: (line: string) => void;
}

/**
 * The peer endpoint: an HTTP server of its own that only upgrades to WebSocket, so that everything a peer can do
 * before it authenticates is bounded here, from its first byte. At most MAX_UNAUTHENTICATED_CONNECTIONS such
 * connections at once before their hello (a new one closes the oldest of the source holding the most), and a few per
 * member whose hello claimed it, which nothing closes to make room (PreauthPool); each with a PreauthBudget from
 * TCP accept, HTTP headers of at most MAX_UPGRADE_HEADER_BYTES, and an error listener at every layer, so no
 * connection can end the process.
 */
export class PeerEndpoint {
  /** Connections not authenticated yet, with their budget and where they come from (a closed socket forgets it). */
  private readonly pending = new Map<Socket, { budget: PreauthBudget; from: string }>();
  /** The same connections, by the places they hold: which one a new connection closes, which hello is refused. */
  private readonly pool = new PreauthPool<Socket>({
    maxAnonymous: MAX_UNAUTHENTICATED_CONNECTIONS,
    maxPerMember: MAX_CLAIMED_HANDSHAKES_PER_MEMBER,
    maxPerMemberSource: MAX_CLAIMED_HANDSHAKES_PER_SOURCE,
  });
  /** Connections closed to make room since the cap was last reached: logged once when it is reached and once after. */
  private refused = 0;

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    private readonly o: EndpointOptions,
  ) {
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket as Socket, head));
    server.on('request', (req: IncomingMessage, res) => {
      this.o.log(`peer endpoint: plain HTTP ${req.method} from ${this.from(req.socket)} refused (WebSocket only)`);
      res.writeHead(426, { Connection: 'close', Upgrade: 'websocket' }).end();
    });
    server.on('clientError', (err: Error, socket: Duplex) => {
      this.o.log(`peer endpoint: malformed HTTP from ${this.from(socket as Socket)}: ${err.message}`);
      socket.destroy();
    });
    wss.on('wsClientError', (err: Error, socket: Duplex) => {
      this.o.log(`peer endpoint: WebSocket upgrade from ${this.from(socket as Socket)} refused: ${err.message}`);
      socket.destroy();
    });
  }

  static async listen(o: EndpointOptions): Promise<PeerEndpoint> {
    const server = createServer({
      maxHeaderSize: MAX_UPGRADE_HEADER_BYTES,
      // Node's own bounds on the HTTP phase; the PreauthBudget's deadline from accept covers it as well.
      headersTimeout: HANDSHAKE_TIMEOUT_MS,
      requestTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    // Messages are emitted synchronously (PreauthBudget relies on it), as ws does by default.
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_SEALED_FRAME_BYTES, perMessageDeflate: false, allowSynchronousEvents: true });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', (err) => reject(new CleanroomError('CONFIG_INVALID', `cannot listen on ${o.host}:${o.port}: ${err.message}`)));
      server.listen(o.port, o.host);
    });
    server.on('error', (err) => o.log(`peer endpoint: ${err.message}`));
    return new PeerEndpoint(server, wss, o);
  }

  /** Stops listening and ends every connection, authenticated or not. */
  async close(): Promise<void> {
    for (const socket of this.pending.keys()) socket.destroy();
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((r) => this.server.close(() => r()));
    await new Promise<void>((r) => this.wss.close(() => r()));
  }

  private onConnection(socket: Socket): void {
    // From the first byte to the last: an error on a socket nobody listens to would end the process.
    socket.on('error', () => socket.destroy());
    // An old one goes, not the newest: a member's hello follows its connect within milliseconds, so connections held
    // open to fill the cap are the old ones, and refusing newcomers would lock every member out. Of the source holding
    // the most, so that a flood displaces its own connections before a member's.
    const evicted = this.pool.add(socket, sourceOf(socket.remoteAddress));
    if (evicted) {
      this.pending.delete(evicted);
      evicted.destroy();
      if (this.refused++ === 0) this.o.log(`peer endpoint: ${MAX_UNAUTHENTICATED_CONNECTIONS} connections are not authenticated yet; closing the oldest (of the source holding the most) for each new one until fewer are`);
    }
    const from = address(socket);
    const budget = new PreauthBudget(socket, (err) => {
      this.o.log(`peer endpoint: connection from ${from} closed: ${err.message}`);
      socket.destroy();
    });
    this.pending.set(socket, { budget, from });
    socket.once('close', () => this.settled(socket));
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // Every socket the server emits was accepted by onConnection, and is pending until it authenticates or closes
    // (or is closed to make room, when nothing more comes of it).
    const pending = this.pending.get(socket);
    if (!pending) return void socket.destroy();
    const { budget, from } = pending;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      PeerConnection.accept(ws, budget, this.o.params, (member) => this.claim(socket, member))
        .then(
          (conn) => {
            this.settled(socket);
            return this.o.onPeer(conn);
          },
          (err: unknown) => this.o.log(`peer connection from ${from} refused: ${errorMessage(err)}`),
        )
        .catch((err: unknown) => this.o.log(`peer connection from ${from} failed: ${errorMessage(err)}`));
    });
  }

  /** The socket's hello claimed `member`: it leaves the anonymous connections, or its hello is refused (never another's). */
  private claim(socket: Socket, member: string): void {
    const outcome = this.pool.claim(socket, member);
    if (outcome === 'claimed') return;
    const why = {
      'member-full': `${MAX_CLAIMED_HANDSHAKES_PER_MEMBER} connections claiming ${member} are in their handshake already`,
      'source-full': `${MAX_CLAIMED_HANDSHAKES_PER_SOURCE} connections from this source claiming ${member} are in their handshake already`,
      gone: 'the connection was closed to make room',
    }[outcome];
    throw new CleanroomError('LIMIT_EXCEEDED', `hello refused: ${why}`, { peerFault: true });
  }

  private from(socket: Socket): string {
    return this.pending.get(socket)?.from ?? address(socket);
  }

  private settled(socket: Socket): void {
    this.pool.remove(socket);
    if (!this.pending.delete(socket) || this.refused === 0 || this.pool.anonymousCount >= MAX_UNAUTHENTICATED_CONNECTIONS - 1) return;
    this.o.log(`peer endpoint: below the cap of unauthenticated connections again; ${this.refused} old one(s) closed to make room meanwhile`);
    this.refused = 0;
  }
}

function address(socket: Socket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}
