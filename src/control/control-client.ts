import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import { CleanroomError, asCleanroomError } from '../errors.js';
import { STOP_POLL_INTERVAL_MS } from '../limits.js';
import { loadConfig } from '../config/node-config.js';
import { CancelAnswerSchema, ControlErrorSchema, ControlEventSchema, MatchLineSchema, StatusSchema, StopAnswerSchema, type ControlEvent, type MatchView, type NodeStatus, type StopAnswer, type CancelAnswer } from './control-event.js';
import { readControlToken } from './control-token.js';

/** Where a node's control interface listens and the token it wrote at its last start. */
export interface ControlEndpoint {
  readonly host: string;
  readonly port: number;
  readonly token: string;
}

/** The endpoint of the node whose directory this is: its config.json and its control.token. */
export async function controlEndpoint(nodeDir: string): Promise<ControlEndpoint> {
  const cfg = await loadConfig(join(nodeDir, 'config.json'));
  return { host: cfg.config.control.host, port: cfg.config.control.port, token: await readControlToken(cfg.baseDir) };
}

/** Submits a query to a node's control interface and yields its events as they stream in. */
export async function* submitQuery(endpoint: ControlEndpoint, sql: string): AsyncGenerator<ControlEvent> {
  const res = await send(endpoint, 'POST', '/query', JSON.stringify({ sql }));
  if (res.statusCode !== 200) {
    yield parseEvent(await readAll(res), ControlErrorSchema);
    return;
  }
  let buffer = '';
  for await (const chunk of res) {
    buffer += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) yield parseEvent(line, ControlEventSchema);
    }
  }
}

/** Asks the node to cancel a running query (its id is in the query's first progress event): every member aborts it. */
export async function cancelQuery(endpoint: ControlEndpoint, queryId: string): Promise<CancelAnswer> {
  const res = await send(endpoint, 'POST', `/query/${encodeURIComponent(queryId)}/cancel`);
  const body = await readAll(res);
  if (res.statusCode !== 200) {
    const refusal = parseEvent(body, ControlErrorSchema);
    throw new CleanroomError(refusal.code, refusal.message);
  }
  return parseEvent(body, CancelAnswerSchema);
}

export async function nodeStatus(endpoint: ControlEndpoint): Promise<NodeStatus> {
  const res = await send(endpoint, 'GET', '/status');
  const body = await readAll(res);
  if (res.statusCode !== 200) {
    const refusal = parseEvent(body, ControlErrorSchema);
    throw new CleanroomError(refusal.code, refusal.message);
  }
  return parseEvent(body, StatusSchema);
}

/** A fresh single-use console login code from the node (the control token's holder only), and the link that uses it. */
export async function consoleLoginLink(endpoint: ControlEndpoint): Promise<{ url: string; expiresInMs: number }> {
  const res = await send(endpoint, 'POST', '/api/login-code');
  const body = await readAll(res);
  if (res.statusCode !== 200) {
    const refusal = parseEvent(body, ControlErrorSchema);
    throw new CleanroomError(refusal.code, refusal.message);
  }
  const { code, expiresInMs } = parseEvent(body, LoginCodeSchema);
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  // In the fragment: a browser sends it to no server, nor in Referer; the page reads it and trades it for a session.
  return { url: `http://${host}:${endpoint.port}/#login=${code}`, expiresInMs };
}

const LoginCodeSchema = z.strictObject({ code: z.string().regex(/^[0-9a-f]{64}$/), expiresInMs: z.number().int().positive() });

/** The node's match report of its `table` against `partner`'s tables (POST /api/match): one count-only query each. */
export async function matchReport(endpoint: ControlEndpoint, table: string, partner: string): Promise<MatchView[]> {
  const res = await send(endpoint, 'POST', '/api/match', JSON.stringify({ table, partner }));
  const body = await readAll(res);
  if (res.statusCode !== 200) {
    const refusal = parseEvent(body, ControlErrorSchema);
    throw new CleanroomError(refusal.code, refusal.message);
  }
  return parseEvent(body, z.array(MatchLineSchema));
}

/** Asks the node to stop gracefully (POST /stop): it refuses new queries and exits once the running ones end. */
export async function requestStop(endpoint: ControlEndpoint): Promise<StopAnswer> {
  const res = await send(endpoint, 'POST', '/stop');
  const body = await readAll(res);
  if (res.statusCode !== 200) {
    const refusal = parseEvent(body, ControlErrorSchema);
    throw new CleanroomError(refusal.code, refusal.message);
  }
  return parseEvent(body, StopAnswerSchema);
}

/**
 * Resolves once the node's control port no longer answers: the node closes it last, after its files and workers.
 * TIMEOUT when it still answers after `timeoutMs`.
 */
export async function waitForExit(endpoint: ControlEndpoint, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await nodeStatus(endpoint);
    } catch (err) {
      if (asCleanroomError(err).code === 'PEER_UNREACHABLE') return;
      throw err;
    }
    if (Date.now() >= deadline) throw new CleanroomError('TIMEOUT', `the node at ${endpoint.host}:${endpoint.port} still answers ${timeoutMs / 1000} s after it was asked to stop; see its log`);
    await new Promise((r) => setTimeout(r, STOP_POLL_INTERVAL_MS));
  }
}

function send(endpoint: ControlEndpoint, method: 'GET' | 'POST', path: string, body?: string): Promise<IncomingMessage> {
  const { host, port, token } = endpoint;
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const req = request({ host, port, method, path, headers }, resolve);
    req.on('error', (err) => reject(new CleanroomError('PEER_UNREACHABLE', `cannot reach the node's control interface at ${host}:${port}: ${err.message}; is the node started?`)));
    req.end(body);
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) text += (chunk as Buffer).toString('utf8');
  return text;
}

function parseEvent<T>(line: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new CleanroomError('INTERNAL', `the node's control interface sent a line that is not JSON: ${line.slice(0, 200)}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new CleanroomError('INTERNAL', `the node's control interface sent an event this client does not know: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
