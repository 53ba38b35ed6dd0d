/**
 * The console's calls to its node's control interface: same-origin, authenticated by this tab's session id in an
 * Authorization header (session.ts), never by a cookie. POSTs carry JSON, which a cross-site form cannot send.
 */
import { forgetSession, keepSession, sessionHeaders } from './session.js';

export type { CollaborationView, HistoryView, PlanView, TableView, Preview, HistoryItem, NoiseWarningView, TableDataView, HashCacheView } from '../../src/console/api.js';
export type { SchemaView, SchemaTableView, SchemaColumnView, ExampleQueryView } from '../../src/console/api.js';
import type { NoiseWarningView } from '../../src/console/api.js';
export type { MatchView } from '../../src/control/control-event.js';
import type { ProgressEvent } from '../../src/control/control-event.js';
export type { ProgressEvent };

/** One error as the control interface sends it: a refusal, or how a query ended badly. */
export interface ApiError {
  readonly type: 'error';
  readonly code: string;
  readonly message: string;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(`${error.code}: ${error.message}`);
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    // Nothing the browser would add on its own: the session goes in the header below and nowhere else.
    credentials: 'omit',
    headers: { ...sessionHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as unknown;
  // A session the node no longer knows (it restarted, or the session ended) is of no further use to this tab.
  if (res.status === 401) forgetSession();
  if (!res.ok) throw new ApiFailure(res.status, json as ApiError);
  return json as T;
}

export const getJson = <T>(path: string): Promise<T> => call<T>('GET', path);
export const postJson = <T>(path: string, body?: unknown): Promise<T> => call<T>('POST', path, body);

/** Trades a login link's code for this tab's session. */
export async function logIn(code: string): Promise<void> {
  const { session } = await postJson<{ session: string }>('/api/login', { code });
  keepSession(session);
}

/** Ends this tab's session at the node, and forgets it here even when the node cannot be reached. */
export async function logOut(): Promise<void> {
  try {
    await postJson('/api/logout');
  } finally {
    forgetSession();
  }
}

/** The result of a query as the node returns it (QueryResult, src/query/result.ts). */
export interface QueryResult {
  readonly queryId: string;
  readonly mode: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number | null)[])[];
  readonly minDistinctKeys: number;
  readonly privacy?: {
    readonly epsilon: string;
    readonly delta: string;
    readonly confidence: number;
    readonly intervals: readonly (readonly (readonly [string | number | null, string | number | null] | null)[])[];
  };
  /** Set when HAVING, ORDER BY, LIMIT or OFFSET shaped the rows: the groups released, and under a policy the clauses that acted on noisy values. */
  readonly afterRelease?: { readonly released: number; readonly onNoisyValues?: readonly ('HAVING' | 'ORDER BY')[] };
  /** What the counts count, in one sentence the node wrote (src/query/counts-text.ts); absent in results saved before. */
  readonly counts?: string;
  /** Under a privacy policy: outputs whose noise outweighs their values, with what would help. */
  readonly warnings?: readonly NoiseWarningView[];
}

export type QueryEvent =
  | ProgressEvent
  | { readonly type: 'result'; readonly result: QueryResult }
  | { readonly type: 'released'; readonly queryId: string; readonly groups: number; readonly receivers: readonly string[] }
  | ApiError;

/** Asks the node to cancel a running query (POST /query/<id>/cancel): every member aborts it, nothing is released. */
export const cancelQuery = (queryId: string): Promise<{ cancelled: boolean; queryId: string }> => postJson(`/query/${encodeURIComponent(queryId)}/cancel`);

/** Submits a query (POST /query, as the CLI does) and hands over each event of its stream as it arrives. */
export async function runQuery(sql: string, onEvent: (e: QueryEvent) => void): Promise<void> {
  const res = await fetch('/query', { method: 'POST', credentials: 'omit', headers: { ...sessionHeaders(), 'content-type': 'application/json' }, body: JSON.stringify({ sql }) });
  if (!res.ok || !res.body) {
    onEvent((await res.json()) as ApiError);
    return;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    buffer += r.value;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) onEvent(JSON.parse(line) as QueryEvent);
    }
  }
}
