/**
 * A server that stands where a member's node should be and answers every WebSocket upgrade with whatever a test
 * says: what a node that dials out meets at a hijacked or misconfigured endpoint.
 */
import { createServer, type Socket } from 'node:net';

export interface HostileReply {
  readonly bytes: readonly Buffer[];
  /** Whether the server then closes or stays silent (the dialling node must end the connection itself). */
  readonly then: 'close' | 'stay';
}

export interface HostileServer {
  close(): Promise<void>;
}

export async function hostileServer(port: number, reply: (key: string) => HostileReply): Promise<HostileServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    let head = '';
    const onData = (b: Buffer) => {
      head += b.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const r = reply(/^sec-websocket-key:\s*(\S+)\s*$/im.exec(head)?.[1] ?? '');
      for (const b of r.bytes) socket.write(b);
      if (r.then === 'close') socket.end();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
