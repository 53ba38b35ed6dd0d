import { request } from 'node:http';
import { CleanroomError } from '../errors.js';
import type { ControlEvent } from './control-server.js';

/** Submits a query to a node's control interface and yields its events as they stream in. */
export async function* submitQuery(host: string, port: number, sql: string): AsyncGenerator<ControlEvent> {
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = request({ host, port, method: 'POST', path: '/query', headers: { 'content-type': 'application/json' } }, resolve);
    req.on('error', (err) => reject(new CleanroomError('PEER_UNREACHABLE', `cannot reach the node's control interface at ${host}:${port}: ${err.message}; is the node started?`)));
    req.end(JSON.stringify({ sql }));
  });
  let buffer = '';
  for await (const chunk of res) {
    buffer += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line) as ControlEvent;
    }
  }
}

export async function nodeStatus(host: string, port: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method: 'GET', path: '/status' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}
