/**
 * A flood of connections at a node's peer port, as anyone who reaches the port can open them: a batch every tick,
 * each held open until the node closes it, from loopback aliases of their own (an outside attacker's addresses, not
 * the members'). Some connections go further and send a hello claiming a member (an attacker who knows the member
 * ids and the manifest hash), then stay silent, never able to sign. The flood stops by itself at a cap on
 * connections or time, whichever comes first, so that a test that forgets it cannot run away.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { encodeFrame } from '../../src/wire/codec.js';
import { PROTOCOL_VERSION } from '../../src/wire/messages.js';

export interface FloodOptions {
  readonly port: number;
  /** Loopback addresses the connections come from, in turn (Linux routes all of 127.0.0.0/8 to lo). */
  readonly from: readonly string[];
  readonly perTick: number;
  readonly tickMs: number;
  /** Connections opened in all, and time from the start: the flood stops at either. */
  readonly maxConnections: number;
  readonly maxMs: number;
  /** No new batch while this many of the flood's connections are open (the node is slow to close them). */
  readonly maxOpen: number;
  /** Every how many connections one sends a hello claiming `claim.member`, from `claim.from`; none without `claim`. */
  readonly claim?: { readonly every: number; readonly from: string; readonly member: string; readonly collaborationId: string; readonly manifestHash: Uint8Array };
}

export interface FloodStats {
  readonly opened: number;
  /** Connections the node accepted (connected), and those of them it closed while the flood held them. */
  readonly connected: number;
  readonly closedByNode: number;
  readonly claims: number;
  readonly ms: number;
}

export interface Flood {
  /** Resolves when the flood stopped by itself (at a cap). */
  readonly done: Promise<void>;
  /** Stops opening connections and closes those still open. */
  stop(): Promise<FloodStats>;
}

export function startFlood(o: FloodOptions): Flood {
  const started = Date.now();
  const open = new Set<{ end: () => void }>();
  let opened = 0;
  let connected = 0;
  let closedByNode = 0;
  let claims = 0;
  let stopping = false;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));

  const track = (end: () => void) => {
    const handle = { end };
    let accepted = false;
    open.add(handle);
    return {
      connected: () => {
        accepted = true;
        connected++;
      },
      // A connection that never got through (no port left, a refused SYN) was not closed by the node.
      closed: () => {
        if (open.delete(handle) && accepted && !stopping) closedByNode++;
      },
    };
  };

  const tcp = (localAddress: string) => {
    const s: Socket = connect({ host: '127.0.0.1', port: o.port, localAddress });
    const t = track(() => s.destroy());
    s.on('error', () => {});
    s.once('connect', t.connected);
    s.once('close', t.closed);
  };

  const claiming = (c: NonNullable<FloodOptions['claim']>) => {
    claims++;
    const ws = new WebSocket(`ws://127.0.0.1:${o.port}`, { localAddress: c.from, perMessageDeflate: false });
    const t = track(() => ws.terminate());
    ws.on('error', () => {});
    ws.once('upgrade', t.connected);
    ws.once('open', () => {
      const hello = { type: 'hello', version: PROTOCOL_VERSION, collaborationId: c.collaborationId, manifestHash: c.manifestHash, manifestVersion: 1, member: c.member, ephemeral: x25519.getPublicKey(x25519.utils.randomSecretKey()) };
      ws.send(encodeFrame(hello));
    });
    ws.once('close', t.closed);
  };

  const tick = setInterval(() => {
    if (opened >= o.maxConnections || Date.now() - started >= o.maxMs) {
      clearInterval(tick);
      finish();
      return;
    }
    if (open.size >= o.maxOpen) return;
    for (let i = 0; i < o.perTick && opened < o.maxConnections; i++, opened++) {
      if (o.claim && opened % o.claim.every === 0) claiming(o.claim);
      else tcp(o.from[opened % o.from.length]!);
    }
  }, o.tickMs);

  return {
    done,
    async stop() {
      clearInterval(tick);
      finish();
      stopping = true;
      for (const h of open) h.end();
      open.clear();
      return { opened, connected, closedByNode, claims, ms: Date.now() - started };
    },
  };
}
