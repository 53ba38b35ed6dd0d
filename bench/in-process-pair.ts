import { performance } from 'node:perf_hooks';
import type { PsiGroup } from '../src/crypto/group.js';
import { hashToGroupDst } from '../src/crypto/group.js';
import { PSI_BATCH_KEYS } from '../src/limits.js';
import type { Column, Manifest, Table } from '../src/manifest/schema.js';
import type { AggregatorSession } from '../src/session/aggregator.js';
import type { PartnerSession } from '../src/session/partner.js';
import type { Step } from '../src/session/step.js';
import type { SessionMessage } from '../src/wire/messages.js';
import { completeBlinds } from '../test/support/local-driver.js';

const pad = (n: number) => String(n).padStart(7, '0');

/** n keys from `from` on, as the in-process benchmarks spell them. */
export const keysFor = (from: number, n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => new TextEncoder().encode(`person${pad(from + i)}@example.com`));

/**
 * The manifest the in-process benchmarks plan against: p (querier and receiver) owns tp, q owns tq, both joined on
 * the string column k, minimum 1. `columns` and `rules` add what a benchmark's query needs, by owner.
 */
export function pairManifest(more: { columns?: Column[]; rules?: (owner: 'p' | 'q') => Partial<Table['rules']>; verify?: boolean } = {}): Manifest {
  const table = (name: string, owner: 'p' | 'q'): Table => ({
    name,
    owner,
    columns: [{ name: 'k', type: 'string' }, ...(more.columns ?? [])],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 1, overlapDisclosure: [], ...more.rules?.(owner) },
  });
  const member = (id: string, i: number) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i).repeat(64) });
  return {
    format: 'cleanroom-manifest/1',
    collaborationId: 'bench',
    name: 'bench',
    version: 1,
    members: [member('p', 1), member('q', 2)],
    tables: [table('tp', 'p'), table('tq', 'q')],
    queriers: ['p'],
    receivers: ['p'],
    ...(more.verify ? { verify: true } : {}),
  };
}

/**
 * Runs the aggregator P and the partner Q of one query in this process over an in-memory pipe, on this thread
 * (every multiplication answered here), P holding keys [0, n) and Q keys [n/2, 3n/2). Each step either machine
 * returns goes to `observe`, which says when the run is over. Resolves with the seconds from the first hash on.
 */
export function runPair(group: PsiGroup, n: number, P: AggregatorSession, Q: PartnerSession, observe: (step: Step) => boolean): number {
  const dst = hashToGroupDst('bench');
  const pKeys = keysFor(0, n);
  const qKeys = keysFor(n / 2, n);
  const toQ: SessionMessage[] = [];
  const toP: SessionMessage[] = [];
  let over = false;
  const take = (step: Step, out: SessionMessage[]) => {
    const s = completeBlinds(out === toQ ? P : Q, step, group);
    out.push(...s.send.map((e) => e.msg));
    if (observe(s)) over = true;
  };
  const started = performance.now();
  take(Q.start(), toP);
  take(Q.ownKeyCount(n), toP);
  for (let i = 0; i < n; i += PSI_BATCH_KEYS) {
    take(Q.ownHashed(group.hashToGroup(qKeys.slice(i, i + PSI_BATCH_KEYS), dst)), toP);
    take(P.ownHashed(group.hashToGroup(pKeys.slice(i, i + PSI_BATCH_KEYS), dst)), toQ);
  }
  take(Q.ownEnd(), toP);
  take(P.ownEnd(), toQ);
  while (!over && (toP.length > 0 || toQ.length > 0)) {
    while (toQ.length > 0) take(Q.receive('p', toQ.shift()!), toP);
    while (toP.length > 0) take(P.receive('q', toP.shift()!), toQ);
  }
  return (performance.now() - started) / 1000;
}
