/**
 * A peer that speaks raw TCP to a node's peer port: writes the given bytes, then waits for the node to end the
 * connection, up to a bound past which the connection counts as hung.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

/**
 * What the peer does in turn: write bytes, pause, half-close, or wait for the node's HTTP response head (so that a
 * reset right after cannot discard it unread).
 */
export type Step = Buffer | { readonly pause: number } | { readonly halfClose: true } | { readonly awaitResponse: true };

export interface RawOutcome {
  /** `node`: the node closed or reset the connection; `bound`: it was still open at the bound (a hang). */
  readonly endedBy: 'node' | 'bound';
  readonly received: Buffer;
  readonly ms: number;
}

export function rawExchange(port: number, steps: readonly Step[], boundMs: number): Promise<RawOutcome> {
  const started = Date.now();
  const socket = connect({ host: '127.0.0.1', port });
  const received: Buffer[] = [];
  const arrived = new EventEmitter();
  socket.on('data', (b: Buffer) => {
    received.push(b);
    arrived.emit('data');
  });
  // A reset or a write into a closed socket is one of the ways a node ends a connection.
  socket.on('error', () => {});
  return new Promise((resolve) => {
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      socket.destroy();
    }, boundMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ endedBy: hung ? 'bound' : 'node', received: Buffer.concat(received), ms: Date.now() - started });
    });
    socket.once('connect', () => void play(socket, steps, () => Buffer.concat(received).includes('\r\n\r\n'), arrived));
  });
}

async function play(socket: Socket, steps: readonly Step[], responded: () => boolean, arrived: EventEmitter): Promise<void> {
  for (const s of steps) {
    if (socket.destroyed) return;
    if (Buffer.isBuffer(s)) socket.write(s);
    else if ('pause' in s) await new Promise((r) => setTimeout(r, s.pause));
    else if ('halfClose' in s) socket.end();
    else {
      await new Promise<void>((resolve) => {
        const check = () => {
          if (!responded() && !socket.destroyed) return;
          arrived.off('data', check);
          socket.off('close', check);
          resolve();
        };
        arrived.on('data', check);
        socket.on('close', check);
        check();
      });
    }
  }
}

/** Opens `n` connections that send nothing; resolves once all are connected or closed. */
export async function idleConnections(port: number, n: number): Promise<{ sockets: Socket[]; closedByNode: () => number }> {
  let closed = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve) => {
          const s = connect({ host: '127.0.0.1', port });
          s.on('error', () => {});
          s.once('close', () => {
            closed += 1;
            resolve(s);
          });
          s.once('connect', () => resolve(s));
        }),
    ),
  );
  return { sockets, closedByNode: () => closed };
}
