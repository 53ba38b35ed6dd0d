import { groupBackends } from '../src/crypto/backend.js';
import type { PsiGroup } from '../src/crypto/group.js';
import { QuerySecret } from '../src/crypto/secret.js';
import type { Manifest } from '../src/manifest/schema.js';
import { AggregatorSession } from '../src/session/aggregator.js';
import { PartnerSession } from '../src/session/partner.js';
import { pairManifest, runPair } from './in-process-pair.js';
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


function manifest(verify: boolean): Manifest {
  return pairManifest({
    columns: [{ name: 'v', type: 'integer', min: 0, max: 100 }],
    rules: (owner) => ({ aggregations: [{ column: 'v', functions: ['sum'] }], overlapDisclosure: owner === 'q' ? ['p'] : [] }),
    verify,
  });
}

/** Aggregate-mode PSI of n keys a side, half of them shared: seconds to the aggregator's matched keys. */
async function psi(group: PsiGroup, n: number, verify: boolean): Promise<{ seconds: number; matched: readonly number[] }> {
  const plan = planQuery(await parseQuery('SELECT SUM(tp.v) FROM tp JOIN tq ON tp.k = tq.k'), manifest(verify), 'p');
  if (plan.mode !== 'aggregate' || Boolean(plan.verified) !== verify) throw new Error(`the bench's plan is not aggregate mode with verify ${verify}`);
  const queryId = '00'.repeat(16);
  const P = new AggregatorSession({ queryId, plan, self: 'p', peer: 'q', secret: QuerySecret.generate(), group });
  const Q = new PartnerSession({ queryId, plan, self: 'q', peer: 'p', secret: QuerySecret.generate(), group });
  let matched: readonly number[] | undefined;
  const seconds = runPair(group, n, P, Q, (s) => {
    if (s.outcome) throw new Error(`the PSI ended with ${s.outcome.kind}: ${s.outcome.kind === 'failed' ? s.outcome.error.message : ''}`);
    if (Array.isArray(s.aggregate)) matched = s.aggregate;
    return matched !== undefined;
  });
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
