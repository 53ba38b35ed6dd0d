import { performance } from 'node:perf_hooks';
import type { SessionMessage } from '../src/wire/messages.js';
import { groupBackends } from '../src/crypto/backend.js';
import { hashToGroupDst, type PsiGroup } from '../src/crypto/group.js';
import { QuerySecret } from '../src/crypto/secret.js';
import { PSI_BATCH_KEYS } from '../src/limits.js';
import type { Manifest } from '../src/manifest/schema.js';
import { AggregatorSession } from '../src/session/aggregator.js';
import { PartnerSession } from '../src/session/partner.js';
import { completeBlinds } from '../test/support/local-driver.js';
import type { Step } from '../src/session/step.js';
import { parseQuery } from '../src/query/parse.js';
import { planQuery } from '../src/query/plan.js';

/**
 * Verified re-blinding (SPEC §4.2.1) against the unverified aggregate-mode PSI, measured in the same run on one
 * thread: both parties' machines in this process over an in-memory pipe, every multiplication, proof and check
 * answered on this thread (the node spreads both alike over its worker pool, so the ratio is the one that matters).
 * A run ends at the aggregator's `aggregate` request; each checks that it matched exactly the keys both sides hold,
 * and the two runs that they matched the same ones.
 */
const SIZES = (process.argv[2] ?? '100000').split(',').map(Number);
/** The pure-JS fallback's subgroup check alone costs about a millisecond a point: it runs a small size. */
const NOBLE_KEYS = 2_000;

const pad = (n: number) => String(n).padStart(7, '0');
const keysFor = (from: number, n: number) => Array.from({ length: n }, (_, i) => new TextEncoder().encode(`person${pad(from + i)}@example.com`));

function manifest(verify: boolean): Manifest {
  const table = (name: string, owner: string, grant: string[]) => ({
    name,
    owner,
    columns: [{ name: 'k', type: 'string' as const }, { name: 'v', type: 'integer' as const, min: 0, max: 100 }],
    joinKey: { column: 'k', normalization: 'exact' as const },
    rules: { aggregations: [{ column: 'v', functions: ['sum' as const] }], dimensions: [], minDistinctKeys: 1, overlapDisclosure: grant },
  });
  const member = (id: string, i: number) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i).repeat(64) });
  return {
    format: 'cleanroom-manifest/1',
    collaborationId: 'bench',
    name: 'bench',
    version: 1,
    members: [member('p', 1), member('q', 2)],
    tables: [table('tp', 'p', []), table('tq', 'q', ['p'])],
    queriers: ['p'],
    receivers: ['p'],
    ...(verify ? { verify: true } : {}),
  };
}

/** Aggregate-mode PSI of n keys a side, half of them shared: seconds to the aggregator's matched keys. */
async function psi(group: PsiGroup, n: number, verify: boolean): Promise<{ seconds: number; matched: readonly number[] }> {
  const plan = planQuery(await parseQuery('SELECT SUM(tp.v) FROM tp JOIN tq ON tp.k = tq.k'), manifest(verify), 'p');
  if (plan.mode !== 'aggregate' || Boolean(plan.verified) !== verify) throw new Error(`the bench's plan is not aggregate mode with verify ${verify}`);
  const queryId = '00'.repeat(16);
  const P = new AggregatorSession({ queryId, plan, self: 'p', peer: 'q', secret: QuerySecret.generate(), group });
  const Q = new PartnerSession({ queryId, plan, self: 'q', peer: 'p', secret: QuerySecret.generate(), group });
  const dst = hashToGroupDst('bench');
  const pKeys = keysFor(0, n);
  const qKeys = keysFor(n / 2, n);
  const toQ: SessionMessage[] = [];
  const toP: SessionMessage[] = [];
  let matched: readonly number[] | undefined;
  const take = (step: Step, out: SessionMessage[], m: AggregatorSession | PartnerSession = out === toQ ? P : Q) => {
    const s = completeBlinds(m, step, group);
    out.push(...s.send.map((e) => e.msg));
    if (s.outcome) throw new Error(`the PSI ended with ${s.outcome.kind}: ${s.outcome.kind === 'failed' ? s.outcome.error.message : ''}`);
    if (Array.isArray(s.aggregate)) matched = s.aggregate;
  };
  const started = performance.now();
  take(Q.start(), toP);
  for (let i = 0; i < n; i += PSI_BATCH_KEYS) {
    take(Q.ownHashed(group.hashToGroup(qKeys.slice(i, i + PSI_BATCH_KEYS), dst)), toP);
    take(P.ownHashed(group.hashToGroup(pKeys.slice(i, i + PSI_BATCH_KEYS), dst)), toQ);
  }
  take(Q.ownEnd(), toP);
  take(P.ownEnd(), toQ);
  while (!matched && (toP.length > 0 || toQ.length > 0)) {
    while (toQ.length > 0) take(Q.receive('p', toQ.shift()!), toP);
    while (toP.length > 0) take(P.receive('q', toP.shift()!), toQ);
  }
  const seconds = (performance.now() - started) / 1000;
  P.end();
  Q.end();
  if (!matched) throw new Error('the PSI never reached the aggregate request');
  return { seconds, matched };
}

/** P's keys n/2 … n−1 are Q's too: exactly those indices, in order. */
function correct(matched: readonly number[], n: number): boolean {
  return matched.length === n / 2 && matched.every((i, at) => i === n / 2 + at);
}

async function main(): Promise<number> {
  let failed = 0;
  for (const group of groupBackends()) {
    for (const n of group.name === 'noble' ? [NOBLE_KEYS] : SIZES) {
      const plain = await psi(group, n, false);
      const verified = await psi(group, n, true);
      const ok = correct(plain.matched, n) && correct(verified.matched, n);
      if (!ok) failed += 1;
      process.stdout.write(
        `backend ${group.name}, aggregate-mode PSI ${n} x ${n} on one thread: unverified ${plain.seconds.toFixed(2)} s, verified ${verified.seconds.toFixed(2)} s, ` +
          `${(verified.seconds / plain.seconds).toFixed(2)}x; matches ${ok ? `correct (${n / 2}, the same in both)` : 'WRONG'}\n`,
      );
    }
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
