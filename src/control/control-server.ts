import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { CleanroomError, asCleanroomError } from '../errors.js';
import { CONSOLE_LOGIN_CODE_TTL_MS, CONSOLE_SESSION_TTL_MS, MAX_CONTROL_BODY_BYTES, MAX_SQL_LENGTH } from '../limits.js';
import type { QueryOutcome } from '../query/result.js';
import { ConsoleLogins } from './console-login.js';
import type { ControlError, ControlEvent, MatchView, WarmState } from './control-event.js';
import { CONTROL_TOKEN_FILE, newControlToken, tokenMatches, writeControlToken } from './control-token.js';

/**
 * What the console's pages read, as JSON the control interface passes on unchanged (src/console/ builds it). A
 * method's promise rejects with a CleanroomError for a request it refuses.
 */
export interface ConsoleService {
  collaboration(): Promise<unknown>;
  tables(): Promise<unknown>;
  /** The manifest's tables and rules, structured for the Query page's schema browser, and example queries. */
  schema(): Promise<unknown>;
  /** The query checked against the rules as the node would check it, and what it would cost; runs nothing. */
  plan(sql: string): Promise<unknown>;
  history(): Promise<unknown>;
  /** A result this node saved; undefined when it saved none of that id. */
  result(queryId: string): Promise<unknown>;
}

/** What the control interface serves: this member's queries, a few facts about its node, and its console. */
export interface QueryService {
  readonly memberId: string;
  readonly manifest: { readonly collaborationId: string; readonly version: number };
  readonly pool: { readonly backend: string; readonly threads: number };
  /** How far the background hashing of the node's own join keys is. */
  readonly hashCache: readonly WarmState[];
  readonly console: ConsoleService;
  query(sql: string, onProgress: (p: Omit<Extract<ControlEvent, { type: 'progress' }>, 'type'>) => void): Promise<QueryOutcome>;
  /** Cancels a running query of this member's users: it fails with CANCELLED on every member; false when none runs. */
  cancel(queryId: string): boolean;
  /** The match report of one of this member's tables against a partner's (src/node/match-report.ts). */
  match(table: string, partner: string): Promise<MatchView[]>;
  /** Asks the node to stop gracefully once `answered` settles: how many queries run, and how long they may take. */
  requestStop(answered: Promise<void>): { running: number; graceMs: number };
}

export interface ControlOptions {
  readonly host: string;
  readonly port: number;
  /** Where the token goes: the node's directory, which its operators can read. */
  readonly nodeDir: string;
  /** The console's built pages (index.html and assets/); dist/web beside the compiled sources by default. */
  readonly webDir?: string;
}

const SqlRequest = z.strictObject({ sql: z.string().min(1).max(MAX_SQL_LENGTH) });
/** Names as the manifest writes them: a table identifier and a member id. */
const MatchRequest = z.strictObject({ table: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/), partner: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/) });
/** Any string is looked up, so a garbled code is refused as used or expired; MAX_CONTROL_BODY_BYTES bounds it. */
const LoginRequest = z.strictObject({ code: z.string() });

/** The names a loopback client may use for this server; anything else in Host is a rebound DNS name. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'] as const;

/**
 * Set in a container whose control port is published on the host's loopback (docker/compose.yml's publisher,
 * `docker run -p 127.0.0.1:7200:7200`): the port mapping connects to the container's own interface, never to its
 * loopback, so the server must listen on every interface of the container's network namespace. Only the bind
 * address changes, at the config's port: Host must still name a loopback server at that port (the published port
 * must be the same number), Origin must still be the console's own, and everything but the console's static pages
 * still wants the token. Other containers on the container's networks can then connect, and get no further than a
 * stranger on loopback. Never set it on a machine whose interfaces face a network.
 */
export const CONTROL_LISTEN_ENV = 'CLEANROOM_CONTROL_LISTEN';
const WILDCARD_HOSTS = ['0.0.0.0', '::'];

function controlBindHost(configured: string): string {
  const wanted = process.env[CONTROL_LISTEN_ENV];
  if (wanted === undefined || wanted === '') return configured;
  if (!WILDCARD_HOSTS.includes(wanted)) throw new CleanroomError('CONFIG_INVALID', `${CONTROL_LISTEN_ENV} is ${wanted}: it may only be ${WILDCARD_HOSTS.join(' or ')} (every interface of a container), or unset`);
  return wanted;
}

/** Every authenticated route, for the answer to any other path. */
const ROUTES = ['GET /status', 'POST /query', 'POST /query/<query id>/cancel', 'POST /stop', 'GET /api/collaboration', 'GET /api/tables', 'GET /api/schema', 'POST /api/plan', 'POST /api/match', 'GET /api/history', 'GET /api/results/<query id>', 'POST /api/login-code', 'POST /api/login', 'POST /api/logout'];

/** Pages and assets anyone who names this server in Host may load: they hold no data, and every datum needs a login. */
const isPublic = (method: string, path: string) => method === 'GET' && (path === '/' || path === '/login' || path.startsWith('/assets/'));

/**
 * The console's pages load nothing from elsewhere and cannot be framed: a page of another site can neither show
 * them under its own (clickjacking) nor pull a script into them.
 */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

type Env = { Bindings: HttpBindings; Variables: { auth: 'token' | 'session'; session?: string } };

/**
 * The node's local control interface: loopback only (the config schema refuses any other host), never the peer
 * endpoint. It serves the CLI, which presents the token the node writes to its directory at start
 * (`Authorization: Bearer`), and the web console, whose page presents a session id it got for a single-use login
 * code (`cleanroom console`) as `Authorization: Session <id>`, so another local user cannot query as this member.
 * The session is never a cookie: a browser sends cookies to every port of 127.0.0.1, so a server another local user
 * runs there would receive it; a header is sent only where the console's own script puts it, and a cross-site form
 * cannot set one. Every request must name this server in Host, so a page whose DNS name was rebound to 127.0.0.1
 * cannot read answers, and must come from no web page's origin but the console's own; a console request that
 * changes anything must carry that origin. All of that is checked before the body is read.
 */
export async function startControlServer(service: QueryService, options: ControlOptions): Promise<Server> {
  const token = newControlToken();
  const hosts = new Set(LOOPBACK_NAMES.map((h) => `${h}:${options.port}`));
  const origins = new Set([...hosts].map((h) => `http://${h}`));
  const logins = new ConsoleLogins();
  const web = loadWeb(options.webDir ?? fileURLToPath(new URL('../../web', import.meta.url)));
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    const error = (status: 401 | 403, message: string) => refuse(c, status, 'AUTH_FAILED', message);
    const host = c.req.header('host')?.toLowerCase();
    if (host === undefined || !hosts.has(host)) return error(403, `the Host header must name this loopback server (${[...hosts].join(', ')})`);
    const origin = c.req.header('origin')?.toLowerCase();
    if (origin !== undefined && !origins.has(origin)) return error(403, "requests from web pages are refused: the control interface serves its node's operators only");
    if (isPublic(c.req.method, c.req.path)) return next();
    // The login's credential is the code in its body; it must still come from the console's own page.
    if (c.req.method === 'POST' && c.req.path === '/api/login') {
      const refused = consolePageRefusal(c, origin);
      return refused === undefined ? next() : error(403, refused);
    }
    const auth = c.req.header('authorization');
    if (auth === undefined) return error(401, `missing Authorization: Bearer <token>; the node writes the token at start to ${CONTROL_TOKEN_FILE} in its directory`);
    const [, scheme, presented] = /^(Bearer|Session) (\S+)$/i.exec(auth) ?? [];
    if (scheme === undefined || presented === undefined) return error(401, 'the Authorization header must be Bearer <token> (the CLI) or Session <id> (the console)');
    if (scheme.toLowerCase() === 'bearer') {
      if (!tokenMatches(token, presented)) return error(401, `wrong token: the node writes a fresh one to ${CONTROL_TOKEN_FILE} in its directory at every start`);
      c.set('auth', 'token');
      return next();
    }
    if (!logins.isSession(presented)) return error(401, `the console session has ended (the node restarted, it is over ${CONSOLE_SESSION_TTL_MS / 3600_000} hours old, or it logged out): run cleanroom console <dir> for a new login link`);
    const refused = consolePageRefusal(c, origin);
    if (refused !== undefined) return error(403, refused);
    c.set('auth', 'session');
    c.set('session', presented);
    return next();
  });

  app.get('/', (c) => {
    const page = web.get('/index.html');
    if (!page) return c.text('the console is not built: run npm run build', 503);
    return c.body(page.body, 200, { 'content-type': page.type, 'cache-control': 'no-store', ...PAGE_HEADERS });
  });
  app.get('/assets/:name', (c) => {
    const asset = web.get(`/assets/${c.req.param('name')}`);
    if (!asset) return c.text('no such asset', 404);
    return c.body(asset.body, 200, { 'content-type': asset.type, ...PAGE_HEADERS });
  });
  // Links of the old form (/login?code=) set a cookie; no link logs in that way any more, and the code is left unused.
  app.get('/login', (c) => {
    const text = 'This console login link is of an older form that no longer logs in. Run cleanroom console &lt;node dir&gt; again and open the link it prints now.';
    return c.html(`<!doctype html><html lang="en"><meta charset="utf-8"><title>Console login</title><p>${text}</p></html>`, 410, { 'cache-control': 'no-store', ...PAGE_HEADERS });
  });

  app.get('/status', (c) =>
    c.json({ member: service.memberId, collaboration: service.manifest.collaborationId, manifestVersion: service.manifest.version, backend: service.pool.backend, workers: service.pool.threads, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), hashCache: service.hashCache }),
  );
  app.post('/query', (c) => jsonOnly(c) ?? serveQuery(service, c));
  // The CLI (its Ctrl-C) and the console (its Cancel) stop a query they started; no body, so no content type to check.
  app.post('/query/:queryId/cancel', (c) => {
    const queryId = c.req.param('queryId');
    return c.json({ cancelled: service.cancel(queryId), queryId }, 200, { 'cache-control': 'no-store' });
  });
  app.post('/stop', (c) => {
    if (c.get('auth') !== 'token') return refuse(c, 403, 'AUTH_FAILED', "the node is stopped by its operator only, who holds the control token (cleanroom stop <dir>)");
    // The stop begins once this answer is out: it ends with closing this server and every connection to it.
    const outgoing = c.env.outgoing;
    const { running, graceMs } = service.requestStop(new Promise<void>((r) => outgoing.once('close', () => r())));
    return c.json({ stopping: true, running, graceMs }, 200, { 'cache-control': 'no-store' });
  });

  app.post('/api/login-code', (c) => {
    if (c.get('auth') !== 'token') return refuse(c, 403, 'AUTH_FAILED', "login links are made for the node's operator only, who holds the control token (cleanroom console <dir>)");
    return c.json(logins.newCode());
  });
  app.post('/api/login', (c) => jsonOnly(c) ?? logIn(c, logins));
  app.post('/api/logout', (c) => {
    const session = c.get('session');
    if (session !== undefined) logins.endSession(session);
    return c.json({ loggedOut: session !== undefined });
  });
  app.get('/api/collaboration', (c) => answer(c, () => service.console.collaboration()));
  app.get('/api/tables', (c) => answer(c, () => service.console.tables()));
  app.get('/api/schema', (c) => answer(c, () => service.console.schema()));
  app.get('/api/history', (c) => answer(c, () => service.console.history()));
  app.get('/api/results/:queryId', (c) =>
    answer(c, async () => {
      const result = await service.console.result(c.req.param('queryId'));
      if (result === undefined) throw new CleanroomError('QUERY_INVALID', `this node saved no result of query ${c.req.param('queryId')}`);
      return result;
    }),
  );
  app.post('/api/plan', (c) => jsonOnly(c) ?? answer(c, async () => service.console.plan((await readSql(c)).sql)));
  app.post('/api/match', (c) =>
    jsonOnly(c) ??
    answer(c, async () => {
      const { table, partner } = await readJson(c, MatchRequest, '{"table": "...", "partner": "..."}');
      return service.match(table, partner);
    }),
  );

  app.notFound((c) => refuse(c, 404, 'QUERY_INVALID', `the control interface serves ${ROUTES.join(', ')}`));

  const server = createServer(getRequestListener(app.fetch, { autoCleanupIncoming: false }));
  const bindHost = controlBindHost(options.host);
  await new Promise<void>((resolve, reject) => {
    // A port in use or a host that is not this machine's is a setup problem the operator fixes in config.json.
    server.once('error', (err) => reject(new CleanroomError('CONFIG_INVALID', `cannot listen for the control interface on ${bindHost}:${options.port}: ${err.message}`)));
    server.listen(options.port, bindHost, resolve);
  });
  // Written only once the port is ours: a second node started on the same directory fails to listen above and
  // leaves the running node's token in place.
  await writeControlToken(options.nodeDir, token).catch((err: unknown) => {
    server.close();
    throw err;
  });
  return server;
}

/**
 * Why a request of the console's page (its login, or one with its session) is refused, or undefined: a same-origin
 * fetch names its site in Sec-Fetch-Site, and one that changes something carries Origin. A page elsewhere cannot
 * read the console's sessionStorage nor send its header without a CORS preflight this server refuses; these checks
 * do not rest on the browser alone.
 */
function consolePageRefusal(c: Context<Env>, origin: string | undefined): string | undefined {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `requests from web pages are refused: this one came from a ${site} page`;
  if (c.req.method !== 'GET' && origin === undefined) return "a console request that changes something must carry the console's Origin";
  return undefined;
}

/** Trades a login link's code for a session id, which the page keeps in sessionStorage and never in a cookie. */
async function logIn(c: Context<Env>, logins: ConsoleLogins): Promise<Response> {
  let code: string;
  try {
    ({ code } = await readJson(c, LoginRequest, '{"code": "<the code after #login= in the link>"}'));
  } catch (err) {
    const e = asCleanroomError(err);
    const error: ControlError = { type: 'error', code: e.code, message: e.message };
    return c.json(error, 400, { 'cache-control': 'no-store' });
  }
  const login = logins.redeem(code);
  if (!login) return refuse(c, 401, 'AUTH_FAILED', `this console login link was used already or is over ${CONSOLE_LOGIN_CODE_TTL_MS / 60_000} minutes old: run cleanroom console <node dir> for a new one`);
  return c.json(login, 200, { 'cache-control': 'no-store' });
}

/** A refused request's one error; its body is never read, and closing the connection drops it. */
function refuse(c: Context<Env>, status: 401 | 403 | 404 | 415, code: ControlError['code'], message: string): Response {
  c.env.outgoing.setHeader('connection', 'close');
  const error: ControlError = { type: 'error', code, message };
  return c.json(error, status);
}

/** The media type without its parameters: `application/json; charset=utf-8` is JSON too. A cross-site form cannot send it. */
function jsonOnly(c: Context<Env>): Response | undefined {
  const type = c.req.header('content-type')?.split(';', 1)[0]?.trim().toLowerCase();
  if (type === 'application/json') return undefined;
  return refuse(c, 415, 'QUERY_INVALID', `POST ${c.req.path} needs content-type: application/json`);
}

/** A console answer as JSON, or its refusal as one error (400) the page shows as it is. */
async function answer(c: Context<Env>, run: () => Promise<unknown>): Promise<Response> {
  try {
    return c.json(await run(), 200, { 'cache-control': 'no-store' });
  } catch (err) {
    const e = asCleanroomError(err);
    const error: ControlError = { type: 'error', code: e.code, message: e.message };
    return c.json(error, 400, { 'cache-control': 'no-store' });
  }
}

function serveQuery(service: QueryService, c: Context<Env>): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => {
      const emit = (e: ControlEvent) => controller.enqueue(encoder.encode(JSON.stringify(e) + '\n'));
      readSql(c)
        .then(({ sql }) => service.query(sql, (p) => emit({ type: 'progress', ...(p.queryId === undefined ? {} : { queryId: p.queryId }), stage: p.stage, ownKeys: p.ownKeys, ...(p.ahead === undefined ? {} : { ahead: p.ahead }), ...(p.view === undefined ? {} : { view: p.view }) })))
        .then((outcome) => emit(outcome.kind === 'result' ? { type: 'result', result: outcome.result } : { type: 'released', queryId: outcome.queryId, groups: outcome.groups, receivers: outcome.receivers }))
        .catch((err: unknown) => {
          const e = asCleanroomError(err);
          emit({ type: 'error', code: e.code, message: e.message });
        })
        .finally(() => controller.close());
    },
  });
  return c.body(body, 200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
}

async function readSql(c: Context<Env>): Promise<{ sql: string }> {
  return readJson(c, SqlRequest, '{"sql": "..."}');
}

async function readJson<T>(c: Context<Env>, schema: z.ZodType<T>, shape: string): Promise<T> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = c.req.raw.body?.getReader();
  for (let r = await reader?.read(); r && !r.done; r = await reader!.read()) {
    size += r.value.byteLength;
    if (size > MAX_CONTROL_BODY_BYTES) {
      // The rest of the body is never read: the connection ends with this response.
      c.env.outgoing.setHeader('connection', 'close');
      await reader!.cancel();
      throw new CleanroomError('LIMIT_EXCEEDED', `request body over ${MAX_CONTROL_BODY_BYTES} bytes`);
    }
    chunks.push(r.value);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new CleanroomError('QUERY_INVALID', 'request body is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new CleanroomError('QUERY_INVALID', `request body must be ${shape}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

const MEDIA_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };

/**
 * The built console, read once at start into memory: a request names a file of this map or nothing, so no path
 * from a request ever reaches the file system. Empty when the console was not built.
 */
function loadWeb(dir: string): Map<string, { body: Uint8Array<ArrayBuffer>; type: string }> {
  const files = new Map<string, { body: Uint8Array<ArrayBuffer>; type: string }>();
  const add = (path: string, file: string) => files.set(path, { body: new Uint8Array(readFileSync(file)), type: MEDIA_TYPES[extname(file)] ?? 'application/octet-stream' });
  try {
    add('/index.html', join(dir, 'index.html'));
    for (const name of readdirSync(join(dir, 'assets'))) add(`/assets/${name}`, join(dir, 'assets', name));
  } catch {
    files.clear();
  }
  return files;
}
