import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { CleanroomError, asCleanroomError } from '../errors.js';
import { MAX_CONTROL_BODY_BYTES, MAX_SQL_LENGTH } from '../limits.js';
import type { QueryOutcome } from '../query/result.js';
import type { ControlError, ControlEvent } from './control-event.js';
import { CONTROL_TOKEN_FILE, newControlToken, tokenMatches, writeControlToken } from './control-token.js';

/** What the control interface serves: this member's queries and a few facts about its node. */
export interface QueryService {
  readonly memberId: string;
  readonly manifest: { readonly collaborationId: string; readonly version: number };
  readonly pool: { readonly backend: string; readonly threads: number };
  query(sql: string, onProgress: (p: Omit<Extract<ControlEvent, { type: 'progress' }>, 'type'>) => void): Promise<QueryOutcome>;
}


export interface ControlOptions {
  readonly host: string;
  readonly port: number;
  /** Where the token goes: the node's directory, which its operators can read. */
  readonly nodeDir: string;
}

const QueryRequest = z.strictObject({ sql: z.string().min(1).max(MAX_SQL_LENGTH) });

/** The names a loopback client may use for this server; anything else in Host is a rebound DNS name. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'] as const;

/**
 * The node's local control interface: loopback only (the config schema refuses any other host), never the peer
 * endpoint. A request must present the token the node writes to its directory at start, so another local user
 * cannot query as this member; must name this server in Host, so a page whose DNS name was rebound to 127.0.0.1
 * cannot read answers; and must not come from a web page's origin, so a cross-site form cannot submit a query.
 * All of that is checked before the body is read.
 */
export async function startControlServer(service: QueryService, options: ControlOptions): Promise<Server> {
  const token = newControlToken();
  const hosts = new Set(LOOPBACK_NAMES.map((h) => `${h}:${options.port}`));
  const origins = new Set([...hosts].map((h) => `http://${h}`));
  const server = createServer((req, res) => {
    const refusal = refuse(req, token, hosts, origins);
    if (refusal) {
      // The body of a refused request is never read; closing the connection drops it.
      res.writeHead(refusal.status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify(refusal.error));
      return;
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ member: service.memberId, collaboration: service.manifest.collaborationId, manifestVersion: service.manifest.version, backend: service.pool.backend, workers: service.pool.threads, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
      return;
    }
    serveQuery(service, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    // A port in use or a host that is not this machine's is a setup problem the operator fixes in config.json.
    server.once('error', (err) => reject(new CleanroomError('CONFIG_INVALID', `cannot listen for the control interface on ${options.host}:${options.port}: ${err.message}`)));
    server.listen(options.port, options.host, resolve);
  });
  // Written only once the port is ours: a second node started on the same directory fails to listen above and
  // leaves the running node's token in place.
  await writeControlToken(options.nodeDir, token).catch((err: unknown) => {
    server.close();
    throw err;
  });
  return server;
}

function refuse(req: IncomingMessage, token: string, hosts: ReadonlySet<string>, origins: ReadonlySet<string>): { status: number; error: ControlError } | undefined {
  const error = (status: number, code: ControlError['code'], message: string) => ({ status, error: { type: 'error' as const, code, message } });
  const host = req.headers.host?.toLowerCase();
  if (host === undefined || !hosts.has(host)) return error(403, 'AUTH_FAILED', `the Host header must name this loopback server (${[...hosts].join(', ')})`);
  const origin = req.headers.origin;
  if (origin !== undefined && !origins.has(origin.toLowerCase())) return error(403, 'AUTH_FAILED', 'requests from web pages are refused: the control interface serves its node\'s operators only');
  const auth = req.headers.authorization;
  if (auth === undefined) return error(401, 'AUTH_FAILED', `missing Authorization: Bearer <token>; the node writes the token at start to ${CONTROL_TOKEN_FILE} in its directory`);
  const presented = /^Bearer (\S+)$/i.exec(auth)?.[1];
  if (presented === undefined) return error(401, 'AUTH_FAILED', 'the Authorization header must be Bearer <token>');
  if (!tokenMatches(token, presented)) return error(401, 'AUTH_FAILED', `wrong token: the node writes a fresh one to ${CONTROL_TOKEN_FILE} in its directory at every start`);
  const route = `${req.method} ${req.url}`;
  if (route !== 'GET /status' && route !== 'POST /query') return error(404, 'QUERY_INVALID', 'the control interface serves GET /status and POST /query');
  if (req.method === 'POST' && mediaType(req) !== 'application/json') return error(415, 'QUERY_INVALID', 'POST /query needs content-type: application/json');
  return undefined;
}

/** The media type without its parameters: `application/json; charset=utf-8` is JSON too. */
function mediaType(req: IncomingMessage): string | undefined {
  return req.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase();
}

function serveQuery(service: QueryService, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const emit = (e: ControlEvent) => res.write(JSON.stringify(e) + '\n');
  readBody(req)
    .then((body) => {
      const parsed = QueryRequest.safeParse(body);
      if (!parsed.success) throw new CleanroomError('QUERY_INVALID', `request body must be {"sql": "..."}: ${z.prettifyError(parsed.error)}`);
      return service.query(parsed.data.sql, (p) => emit({ type: 'progress', stage: p.stage, ownKeys: p.ownKeys, ...(p.ahead === undefined ? {} : { ahead: p.ahead }) }));
    })
    .then((outcome) => emit(outcome.kind === 'result' ? { type: 'result', result: outcome.result } : { type: 'released', queryId: outcome.queryId, groups: outcome.groups, receivers: outcome.receivers }))
    .catch((err: unknown) => {
      const e = asCleanroomError(err);
      emit({ type: 'error', code: e.code, message: e.message });
    })
    .finally(() => res.end());
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_CONTROL_BODY_BYTES) throw new CleanroomError('LIMIT_EXCEEDED', `request body over ${MAX_CONTROL_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new CleanroomError('QUERY_INVALID', 'request body is not JSON');
  }
}
