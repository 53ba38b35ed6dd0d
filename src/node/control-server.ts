import { createServer, type IncomingMessage, type Server } from 'node:http';
import { z } from 'zod';
import { asCleanroomError } from '../errors.js';
import { MAX_SQL_LENGTH } from '../limits.js';
import type { CleanroomNode } from './node.js';

/** Events streamed to the CLI as newline-delimited JSON, the last one a result, a release note or an error. */
export type ControlEvent =
  | { type: 'progress'; stage: string; ownKeys: number }
  | { type: 'result'; result: unknown }
  | { type: 'released'; queryId: string; groups: number; receivers: readonly string[] }
  | { type: 'error'; code: string; message: string };

const QueryRequest = z.strictObject({ sql: z.string().min(1).max(MAX_SQL_LENGTH) });
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The node's local control interface: loopback only (the config schema refuses any other host), never the peer
 * endpoint. Whoever can reach it acts as this member's querier, as with any local database socket.
 */
export async function startControlServer(node: CleanroomNode, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ member: node.memberId, collaboration: node.manifest.collaborationId, manifestVersion: node.manifest.version, backend: node.pool.backend, workers: node.pool.threads, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
      return;
    }
    if (req.method !== 'POST' || req.url !== '/query') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', code: 'NOT_FOUND', message: 'GET /status or POST /query' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const emit = (e: ControlEvent) => res.write(JSON.stringify(e) + '\n');
    readBody(req)
      .then((body) => {
        const parsed = QueryRequest.safeParse(body);
        if (!parsed.success) throw Object.assign(new Error(`request body must be {"sql": "..."}: ${z.prettifyError(parsed.error)}`), { code: 'QUERY_INVALID' });
        return node.query(parsed.data.sql, (p) => emit({ type: 'progress', stage: p.stage, ownKeys: p.ownKeys }));
      })
      .then((outcome) => emit(outcome.kind === 'result' ? { type: 'result', result: outcome.result } : { type: 'released', queryId: outcome.queryId, groups: outcome.groups, receivers: outcome.receivers }))
      .catch((err) => {
        const e = asCleanroomError(err);
        emit({ type: 'error', code: (err as { code?: string }).code ?? e.code, message: e.message });
      })
      .finally(() => res.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw Object.assign(new Error(`request body over ${MAX_BODY_BYTES} bytes`), { code: 'LIMIT_EXCEEDED' });
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw Object.assign(new Error('request body is not JSON'), { code: 'QUERY_INVALID' });
  }
}
