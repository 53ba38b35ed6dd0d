import { groupBackends } from '../src/crypto/backend.js';
import type { PsiGroup } from '../src/crypto/group.js';
import { QuerySecret } from '../src/crypto/secret.js';
import { x25519Rate } from './workload.js';
import { AggregatorSession } from '../src/session/aggregator.js';
import { PartnerSession } from '../src/session/partner.js';
import { pairManifest, runPair } from './in-process-pair.js';
import type { Outcome } from '../src/session/step.js';
import { parseQuery } from '../src/query/parse.js';
import { planQuery } from '../src/query/plan.js';

/**
 * Two-party PSI, both parties' state machines in this process over an in-memory pipe: the protocol's own
 * cost without sockets or DuckDB. Each run checks the intersection size it computed against the known one.
 * Reported beside the machine's single-core X25519 rate measured in the same run: PSI costs 2 hashes-to-group
 * and 4 scalar multiplications per key pair, so `bound` is what a perfect single-core implementation would take.
 */
const SIZES = (process.argv[2] ?? '10000,100000').split(',').map(Number);
/** The pure-JS fallback is ~25x slower; at 100k it alone would take six minutes, so it runs the smallest size. */
const NOBLE_MAX_KEYS = 10_000;


async function psi(group: PsiGroup, n: number): Promise<{ seconds: number; intersection: number }> {
  const plan = planQuery(await parseQuery('SELECT COUNT(*) FROM tp JOIN tq ON tp.k = tq.k'), pairManifest(), 'p');
  const queryId = '00'.repeat(16);
  const [a, b] = [QuerySecret.generate(), QuerySecret.generate()];
  const P = new AggregatorSession({ queryId, plan, self: 'p', peer: 'q', secret: a, group });
  const Q = new PartnerSession({ queryId, plan, self: 'q', peer: 'p', secret: b, group });
  let outcome: Outcome | undefined;
  const seconds = runPair(group, n, P, Q, (s) => {
    if (s.outcome && s.outcome.kind !== 'released') outcome ??= s.outcome;
    return outcome !== undefined;
  });
  if (outcome?.kind !== 'result') throw new Error(`PSI did not produce a result: ${JSON.stringify(outcome)}`);
  return { seconds, intersection: Number(outcome.result.rows[0]![0]) };
}

async function main(): Promise<number> {
  let failed = 0;
  for (const group of groupBackends()) {
    const rate = x25519Rate(group, 1000);
    process.stdout.write(`backend ${group.name}: single-core X25519 ${Math.round(rate)} mult/s\n`);
    for (const n of SIZES.filter((x) => group.name !== 'noble' || x <= NOBLE_MAX_KEYS)) {
      const { seconds, intersection } = await psi(group, n);
      const ok = intersection === n / 2;
      if (!ok) failed += 1;
      const bound = (4 * n) / rate;
      process.stdout.write(
        `  PSI ${n} x ${n}: ${seconds.toFixed(2)} s, ${Math.round((2 * n) / seconds)} keys/s, intersection ${intersection} (${ok ? 'correct' : `WRONG, expected ${n / 2}`}), ${(seconds / bound).toFixed(2)}x the single-core multiplication bound\n`,
      );
    }
  }
  return failed === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
