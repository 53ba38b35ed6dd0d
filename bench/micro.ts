import { add, configure, cycle, suite } from 'benny';
import { groupBackends } from '../src/crypto/backend.js';
import { hashToGroupDst, type PsiGroup } from '../src/crypto/group.js';
import { QuerySecret } from '../src/crypto/secret.js';
import { MAX_ABS_VALUE, reconstruct, share } from '../src/crypto/shares.js';

/**
 * Micro-benchmarks of the group backends and the share arithmetic, on a batch the size the
 * protocol streams. Every backend is measured in the same run, so the sodium/noble ratio is not
 * skewed by a different machine state, and the answers are checked before anything is timed.
 */

const BATCH = 1024;
const SHARE_PARTIES = 3;
const keys = Array.from({ length: BATCH }, (_, i) => new TextEncoder().encode(`user${i}@example.com`));
const dst = hashToGroupDst('bench-micro');
const secret = QuerySecret.fromBytes(new Uint8Array(32).fill(0x5a));
const backends = groupBackends();
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function checkAnswers(): string[] {
  const problems: string[] = [];
  const reference = backends[0]!;
  const points = reference.hashToGroup(keys, dst);
  const blinded = reference.blind(secret, points);
  for (const group of backends.slice(1)) {
    if (hex(group.hashToGroup(keys, dst)) !== hex(points)) problems.push(`hashToGroup: ${group.name} differs from ${reference.name}`);
    if (hex(group.blind(secret, points)) !== hex(blinded)) problems.push(`blind: ${group.name} differs from ${reference.name}`);
  }
  for (const v of [0n, 1n, -1n, 123_456_789n, MAX_ABS_VALUE, -MAX_ABS_VALUE]) {
    if (reconstruct(share(v, SHARE_PARTIES)) !== v) problems.push(`share/reconstruct lost ${v}`);
  }
  return problems;
}

/** Items per second per case, from the unrounded mean time per op. */
async function measure(name: string, perOp: number, cases: [string, () => void][]): Promise<Map<string, number>> {
  const summary = await suite(
    name,
    configure({ cases: { minSamples: 5, maxTime: 3 } }),
    ...cases.map(([caseName, fn]) => add(caseName, fn)),
    cycle(() => ''),
  );
  const rates = new Map<string, number>();
  for (const r of summary.results) {
    const rate = perOp / r.details.mean;
    rates.set(r.name, rate);
    console.log(`  ${r.name.padEnd(8)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} /s  (±${r.margin}%, ${r.samples} samples)`);
  }
  return rates;
}

function printRatio(rates: Map<string, number>): void {
  const sodium = rates.get('sodium');
  const noble = rates.get('noble');
  if (sodium !== undefined && noble !== undefined) console.log(`  sodium/noble ${(sodium / noble).toFixed(1)}x`);
}

const problems = checkAnswers();
if (problems.length > 0) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.log(`answers checked: ${backends.map((b) => b.name).join(' and ')} agree on ${BATCH} keys; share/reconstruct round-trips`);
if (backends.length < 2) console.log('sodium-native is not available here: noble only, no ratio');

const points = backends[0]!.hashToGroup(keys, dst);
const perBackend = (op: (g: PsiGroup) => void): [string, () => void][] => backends.map((g) => [g.name, () => op(g)]);

const hashRates = await measure(`hashToGroup, keys/s (batches of ${BATCH})`, BATCH, perBackend((g) => g.hashToGroup(keys, dst)));
printRatio(hashRates);
const blindRates = await measure(`blind, points/s (batches of ${BATCH})`, BATCH, perBackend((g) => g.blind(secret, points)));
printRatio(blindRates);
// The hash's cost in the unit of the PSI bound (bench/run.ts): one X25519 multiplication of the same backend.
for (const g of backends) {
  const cost = blindRates.get(g.name)! / hashRates.get(g.name)!;
  console.log(`  ${g.name}: one hashToGroup costs ${cost.toFixed(2)} X25519 multiplications`);
}
await measure(`share + reconstruct, ${SHARE_PARTIES} parties, values/s`, 1, [
  ['bigint', () => reconstruct(share(987_654_321_012n, SHARE_PARTIES))],
]);
secret.zero();
