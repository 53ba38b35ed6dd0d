import { connect } from 'node:net';
import { PEER_PROBE_TIMEOUT_MS } from '../limits.js';

/**
 * Whether a peer's endpoint accepts a TCP connection now. The probe opens and closes a connection and sends nothing,
 * so the peer runs no handshake for it; it says the peer's node listens, not that the peer would accept a query.
 */
export function probeEndpoint(endpoint: string): Promise<{ reachable: boolean; problem?: string }> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return Promise.resolve({ reachable: false, problem: `${endpoint} is not a URL` });
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'wss:' ? 443 : 80));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (r: { reachable: boolean; problem?: string }) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(PEER_PROBE_TIMEOUT_MS, () => done({ reachable: false, problem: `no answer in ${PEER_PROBE_TIMEOUT_MS} ms` }));
    socket.once('connect', () => done({ reachable: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ reachable: false, problem: err.code === 'ECONNREFUSED' ? 'connection refused: its node is not running' : err.message }));
  });
}
