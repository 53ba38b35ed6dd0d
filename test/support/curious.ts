import type { PsiGroup } from '../../src/crypto/group.js';
import type { QuerySecret } from '../../src/crypto/secret.js';
import { decodeRingElements } from '../../src/crypto/shares.js';
import type { SessionMessage } from '../../src/wire/messages.js';

/**
 * What an honest-but-curious member can compute from what it received (SPEC §7): the leakage tests play one member,
 * hand these helpers everything it holds (its received point streams, its own keys hashed, a dictionary of keys it
 * might guess) and its own secrets, and compare what comes out with the line of the table that member plays.
 */

/** Each 32-byte point of a concatenation, as hex. */
export function pointHexes(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let off = 0; off < bytes.length; off += 32) out.push(Buffer.from(bytes.subarray(off, off + 32)).toString('hex'));
  return out;
}

/** The points of one stage's `points` messages, in the order they arrived. */
export function streamOf(ms: readonly SessionMessage[], stage: 'p' | 'q' | 'pq'): Uint8Array {
  return Buffer.concat(ms.flatMap((m) => (m.type === 'points' && m.stage === stage ? [m.points] : [])));
}

/** The ring elements of the messages of one type (and stage), concatenated in arrival order. */
export function ringValuesOf(ms: readonly SessionMessage[], type: 'shares' | 'open', stage?: 'counts' | 'values'): bigint[] {
  return ms.flatMap((m) => {
    if (m.type === 'shares' && type === 'shares') return decodeRingElements(m.values);
    if (m.type === 'open' && type === 'open' && m.stage === stage) return decodeRingElements(m.values);
    return [];
  });
}

/** Every product of a subset of `secrets` applied to the collection (the empty product included), as sets of hex. */
function variants(group: PsiGroup, points: Uint8Array, secrets: readonly QuerySecret[]): Set<string>[] {
  const subsets: QuerySecret[][] = [[]];
  for (const s of secrets) subsets.push(...subsets.map((x) => [...x, s]));
  return subsets.map((sub) => new Set(pointHexes(points.length === 0 ? points : sub.reduce((acc, s) => group.blind(s, acc), points))));
}

/**
 * Every pair of collections in which the member finds common points once it raises each to any product of its own
 * secrets: `{"a ~ b": how many}` with the largest overlap over all those products, pairs without any left out.
 * Two collections of blinded keys share points exactly where the member can tell that the keys are the same, so
 * this is everything it can learn by comparing (under DDH, nothing else links two points).
 */
export function computableOverlaps(group: PsiGroup, collections: Readonly<Record<string, Uint8Array>>, secrets: readonly QuerySecret[]): Record<string, number> {
  const names = Object.keys(collections);
  const raised = names.map((n) => variants(group, collections[n]!, secrets));
  const found: Record<string, number> = {};
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      let best = 0;
      for (const a of raised[i]!) for (const b of raised[j]!) best = Math.max(best, [...a].filter((x) => b.has(x)).length);
      if (best > 0) found[`${names[i]} ~ ${names[j]}`] = best;
    }
  }
  return found;
}

/** Elementwise: no position holds the same value in both (a share vector drawn afresh each run). */
export function differAtEveryPosition(a: readonly bigint[], b: readonly bigint[]): boolean {
  return a.length === b.length && a.every((x, i) => x !== b[i]);
}
