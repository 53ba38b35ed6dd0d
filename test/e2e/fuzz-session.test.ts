/**
 * Hostile frames from an insider: a client holding alpha's real identity key authenticates to beta's node process
 * and sends fuzzed frames of every message type, at every stage of a query (before a proposal, after beta accepted
 * one, while beta streams its PSI points, on a parked join): mutated fields, wrong types and lengths, random
 * msgpack, unknown types, out-of-order messages, huge arrays within the frame limit, frames that fail the channel's
 * authentication. The node must never exit, answer only with an abort or a reject (or its own PSI points, which
 * it streams regardless) and a close, stay small, and serve correct queries afterwards.
 *
 * CLEANROOM_FUZZ_SESSION sets the number of cases (default 2000), CLEANROOM_FUZZ_SEED the seed (printed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WireMessage, PROTOCOL_VERSION } from '../../src/wire/messages.js';
import { MAX_FRAME_BYTES, MAX_GROUP_BY_COLUMNS, MAX_GROUPS, MAX_IDLE_CONNECTIONS_PER_MEMBER, MAX_LABEL_CHARS, MAX_PARKED_JOINS_PER_MEMBER, MAX_SQL_LENGTH, PSI_BATCH_KEYS } from '../../src/limits.js';
import { MAX_SEALED_FRAME_BYTES } from '../../src/transport/channel.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';
import { COUNT_SQL, GROUP_SQL, startFuzzCluster, type FuzzCluster } from '../support/fuzz-cluster.js';
import { inBatchesWithin } from '../support/in-batches.js';
import { Insider, type InsiderEvent } from '../support/insider.js';
import { NodeWatch } from '../support/node-watch.js';
import { SeededRand, fuzzValue } from '../support/seeded-rand.js';

const CASES = Number(process.env.CLEANROOM_FUZZ_SESSION ?? 2000);
/**
 * The cases start within this time (about 30 s for all 2,000 on an idle machine of two cores): a busy or slower machine
 * runs fewer, at least MIN_CASES, and the test stays within its timeout. A count set by CLEANROOM_FUZZ_SESSION runs in full.
 */
const BUDGET_MS = process.env.CLEANROOM_FUZZ_SESSION ? Number.POSITIVE_INFINITY : 45_000;
const MIN_CASES = 400;
const SEED = Number(process.env.CLEANROOM_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Below the node's limit of queries proposed by peers, so that proposals of the stage prefixes are accepted. */
const PARALLEL = 12;
/** A frame the node cannot take ends the connection at once; this bound only catches a hang. */
const BOUND_MS = 10_000;
/** Proposals of one case refused at the per-member query limit before it counts as not reaching its stage. */
const LIMIT_RETRIES = 10;
/** A well-formed message may leave the node waiting for the next one: the insider hangs up after this. */
const GRACE_MS = 300;
const RSS_CEILING_MIB = 400;
/**
 * What a node may send a peer that just sent it something wrong: never a value, a share or a label, and `bye` (its
 * part ended well) only right after refusing a proposal with `reject`.
 */
const ALLOWED_ANSWERS = new Set(['abort', 'reject', 'accept', 'points', 'points-end']);

type Stage = 'fresh' | 'accepted' | 'psi' | 'joined';
const STAGES: readonly Stage[] = ['fresh', 'accepted', 'psi', 'joined'];

/** One thing the insider sends. */
type Send = { readonly plaintext: Uint8Array } | { readonly raw: Uint8Array; readonly binary: boolean } | { readonly replay: true };

interface Case {
  readonly stage: Stage;
  /** The proposal of the stage prefix: beta is Q of COUNT_SQL and P of GROUP_SQL. */
  readonly sql: string;
  readonly kind: string;
  readonly sends: readonly Send[];
}

type Msg = Record<string, unknown>;
const TYPES = ['bye', 'propose', 'accept', 'join', 'reject', 'abort', 'points', 'points-end', 'ring', 'ring-end', 'shares', 'open', 'labels', 'hello', 'auth'] as const;
const BYTE_FIELDS = ['points', 'values', 'signature', 'manifestHash', 'ephemeral'];
const NUMBER_FIELDS = ['seq', 'batches', 'count', 'groups', 'width', 'version'];
const ENUM_FIELDS = ['stage', 'set'];
const STRING_FIELDS = ['sql', 'message', 'code', 'querier', 'member', 'collaborationId'];

function message(r: SeededRand, type: (typeof TYPES)[number], queryId: string): Msg {
  const stage = r.pick(['q', 'p', 'pq']);
  const points = () => r.bytes(32 * r.between(1, 64));
  switch (type) {
    case 'bye':
      return { type };
    case 'propose':
      return { type, queryId, querier: 'alpha', sql: r.pick([COUNT_SQL, GROUP_SQL, 'SELECT COUNT(*) FROM right_t b JOIN left_t a ON a.k = b.k']) };
    case 'accept':
    case 'join':
      return { type, queryId };
    case 'reject':
    case 'abort':
      return { type, queryId, code: r.pick(['RULE_VIOLATION', 'TIMEOUT', 'PROTOCOL_VIOLATION', 'NOT_A_CODE']), message: r.pick(['no', 'stop', '\u202e\u0007']) };
    case 'points':
      return { type, queryId, stage, seq: r.pick([0, 0, 1, 7]), points: points() };
    case 'points-end':
      return { type, queryId, stage, batches: r.int(3), count: r.int(100) };
    case 'ring':
      return { type, queryId, set: r.pick(['alpha', 'beta', '*']), stage: r.pick(['hop', 'final']), seq: r.int(2), points: points() };
    case 'ring-end':
      return { type, queryId, set: r.pick(['alpha', 'beta', '*']), stage: r.pick(['hop', 'final']), batches: r.int(2), count: r.int(50) };
    case 'shares': {
      const groups = r.between(1, 3);
      return { type, queryId, groups, width: 2, values: r.bytes(groups * 2 * 16) };
    }
    case 'open':
      return { type, queryId, stage: r.pick(['counts', 'values']), values: r.bytes(16 * r.between(1, 6)) };
    case 'labels':
      return { type, queryId, labels: [['x'], ['y'], ['z']] };
    case 'hello':
      return { type, version: PROTOCOL_VERSION, collaborationId: 'fuzz', manifestHash: r.bytes(32), member: 'alpha', ephemeral: r.bytes(32) };
    case 'auth':
      return { type, signature: r.bytes(64) };
  }
}

/** A field of the message among `among`, or any field if it has none of them. */
function fieldOf(r: SeededRand, m: Msg, among: readonly string[]): string {
  const fit = Object.keys(m).filter((k) => among.includes(k));
  return r.pick(fit.length > 0 ? fit : Object.keys(m));
}

/** Field-level mutations of one message; each returns the message to send. */
const MUTATIONS: Record<string, (r: SeededRand, m: Msg) => unknown> = {
  'as is': (_r, m) => m,
  'field dropped': (r, m) => {
    const keys = Object.keys(m);
    delete m[r.pick(keys.length > 1 ? keys.filter((k) => k !== 'type') : keys)];
    return m;
  },
  'unknown field': (r, m) => ({ ...m, [r.pick(['extra', 'signature', 'querier', 'x'])]: fuzzValue(r) }),
  'wrong type': (r, m) => ({ ...m, [r.pick(Object.keys(m))]: fuzzValue(r) }),
  'wrong length': (r, m) => ({ ...m, [fieldOf(r, m, BYTE_FIELDS)]: r.bytes(r.pick([0, 1, 15, 17, 31, 33, 63, 65, PSI_BATCH_KEYS * 32 + 32, 300_001])) }),
  'out of range': (r, m) => ({ ...m, [fieldOf(r, m, NUMBER_FIELDS)]: r.pick([-1, 2 ** 32, 2 ** 53, 1.5, Number.NaN, Number.NEGATIVE_INFINITY, MAX_GROUPS + 1, 0]) }),
  'bad query id': (r, m) => ({ ...m, queryId: r.pick([r.hex(16).toUpperCase(), r.hex(15), r.hex(17), '', 12, r.bytes(16), '0'.repeat(32), r.hex(16)]) }),
  'bad enum': (r, m) => ({ ...m, [fieldOf(r, m, ENUM_FIELDS)]: r.pick(['', 'Q', 'qq', 'hop ', 'ALL', '**', 'gamma', 3]) }),
  'long string': (r, m) => ({ ...m, [fieldOf(r, m, STRING_FIELDS)]: 'x'.repeat(r.pick([65, 2001, MAX_SQL_LENGTH + 1, 100_000, 1_000_000])) }),
  'huge array': (r, m) => {
    const arrays = [
      () => Array.from({ length: MAX_GROUPS + 1 }, () => ['x']),
      () => Array<number>(r.between(100_000, 1_000_000)).fill(1),
      () => Array.from({ length: 10 }, () => Array<string>(MAX_GROUP_BY_COLUMNS + 1).fill('x')),
      () => Array.from({ length: MAX_GROUPS }, () => Array<boolean>(MAX_GROUP_BY_COLUMNS).fill(true)),
      () => Array.from({ length: 200 }, () => ['y'.repeat(MAX_LABEL_CHARS + 1)]),
      () => Array.from({ length: MAX_GROUPS }, () => []),
    ];
    return { ...m, [m.type === 'labels' || r.chance(0.5) ? 'labels' : r.pick(Object.keys(m))]: r.pick(arrays)() };
  },
  'another query': (r, m) => ({ ...m, queryId: r.hex(16) }),
};

/** Frame-level inputs: what no well-formed message is. */
const FRAMES: Record<string, (r: SeededRand, q: string) => Send[]> = {
  'unknown type': (r, q) => [{ plaintext: encodeFrame({ type: r.pick(['gossip', 'PROPOSE', '', 'hello ', 'result']), queryId: q }) }],
  'type not a string': (r, q) => [{ plaintext: encodeFrame({ type: fuzzValue(r), queryId: q }) }],
  'random msgpack': (r) => [{ plaintext: encodeFrame(fuzzValue(r)) }],
  'not msgpack': (r) => [{ plaintext: r.bytes(r.between(1, 2000)) }],
  'empty plaintext': () => [{ plaintext: new Uint8Array(0) }],
  'trailing bytes': (r, q) => [{ plaintext: Buffer.concat([encodeFrame({ type: 'accept', queryId: q }), r.bytes(r.between(1, 10))]) }],
  'msgpack extension': (r, q) => [{ plaintext: Buffer.concat([Buffer.from([0x82, 0xa4, 0x74, 0x79, 0x70, 0x65]), encodeFrame('points'), Buffer.from([0xa7]), Buffer.from('queryId'), Buffer.from([r.pick([0xd4, 0xd6, 0xd8]), r.pick([0xff, 0x01, 0x72])]), r.bytes(16)]) }],
  'header bomb': (r) => [{ plaintext: Buffer.concat([Buffer.from([0x81, 0xa6]), Buffer.from('labels'), Buffer.alloc(3 * r.between(10, 2000), Buffer.from([0xdc, 0xff, 0xff]))]) }],
  'empty maps by the million': (r) => {
    const n = r.between(1_000_000, 4_000_000);
    return [{ plaintext: Buffer.concat([Buffer.from([0x81, 0xa6]), Buffer.from('labels'), Buffer.from([0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]), Buffer.alloc(n, 0x80)]) }];
  },
  'labels of wrong cells, every group': (_r, q) => [{ plaintext: encodeFrame({ type: 'labels', queryId: q, labels: Array.from({ length: MAX_GROUPS }, () => Array<boolean>(MAX_GROUP_BY_COLUMNS).fill(true)) }) }],
  'frame at the limit': (r, q) => [{ plaintext: encodeFrame({ type: 'points', queryId: q, stage: 'q', seq: 0, points: r.bytes(MAX_FRAME_BYTES - r.int(100)) }) }],
  'unsealed frame': (r) => [{ raw: r.bytes(r.between(0, 3000)), binary: true }],
  'sealed frame in a text frame': (r, q) => [{ plaintext: encodeFrame({ type: 'accept', queryId: q }) }, { raw: r.bytes(40), binary: false }],
  'replayed frame': (_r, q) => [{ plaintext: encodeFrame({ type: 'points-end', queryId: q, stage: 'q', batches: 0, count: 0 }) }, { replay: true }],
  'frame above the socket limit': (r) => [{ raw: r.bytes(MAX_SEALED_FRAME_BYTES + 1 + r.int(1000)), binary: true }],
  'out-of-order sequence': (r, q) => Array.from({ length: r.between(2, 5) }, () => ({ plaintext: encodeFrame(message(r, r.pick(TYPES), q)) })),
};
/** Inputs of megabytes: a few of each are enough. */
const LARGE = new Set(['empty maps by the million', 'labels of wrong cells, every group', 'frame at the limit', 'frame above the socket limit']);

function makeCase(r: SeededRand, i: number): Case {
  const stage = STAGES[i % STAGES.length]!;
  const sql = r.pick([COUNT_SQL, GROUP_SQL]);
  const q = r.hex(16);
  const frames = Object.keys(FRAMES);
  // The first cases go through every frame-level input once; after that, a third of the cases are frame-level.
  const frameKind = i < frames.length ? frames[i] : r.chance(0.33) ? r.pick(frames.filter((f) => !LARGE.has(f) || r.chance(0.05))) : undefined;
  if (frameKind) return { stage, sql, kind: `frame: ${frameKind}`, sends: FRAMES[frameKind]!(r, q) };
  const type = r.pick(TYPES);
  const mutation = r.pick(Object.keys(MUTATIONS));
  return { stage, sql, kind: `${type}: ${mutation}`, sends: [{ plaintext: encodeFrame(MUTATIONS[mutation]!(r, message(r, type, q))) }] };
}

/** Whether the node may rightly wait after these inputs: only if each one is a well-formed message. */
function wellFormed(sends: readonly Send[]): boolean {
  return sends.every((s) => {
    if (!('plaintext' in s)) return false;
    try {
      decodeFrame(s.plaintext, WireMessage, 'session');
      return true;
    } catch {
      return false;
    }
  });
}

interface Outcome {
  /** Whether the stage prefix got where the case meant to fuzz; if not, nothing was sent and why is in `missed`. */
  readonly reached: boolean;
  readonly missed?: string;
  readonly end: 'closed' | 'waiting' | 'hang';
  readonly answers: InsiderEvent[];
  readonly connectError?: string;
}

describe('hostile frames from an authenticated insider (live node process)', () => {
  let fc: FuzzCluster;
  const connect = () => Insider.connect({ url: fc.url, identity: fc.insider, manifest: fc.manifest, manifestHash: fc.hash, peer: 'beta' });

  beforeAll(async () => {
    fc = await startFuzzCluster('fuzz-session');
  });
  afterAll(async () => {
    await fc?.stop();
  });

  async function run(c: Case, r: SeededRand): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await runOnce(c, r.hex(16));
      // A proposal refused at the per-member limit (the slots of the lanes before it not yet freed by the node) is
      // the node's right answer, not a stage reached: try again a bounded number of times, a little later each time.
      if (!outcome.missed?.includes('LIMIT_EXCEEDED') || attempt === LIMIT_RETRIES) return outcome;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }

  async function runOnce(c: Case, queryId: string): Promise<Outcome> {
    let link: Insider;
    try {
      link = await connect();
    } catch (err) {
      return { reached: false, end: 'closed', answers: [], connectError: (err as Error).message };
    }
    try {
      if (c.stage === 'accepted' || c.stage === 'psi') {
        link.send({ type: 'propose', queryId, querier: 'alpha', sql: c.sql });
        const answer = await link.waitFor((e) => e.kind !== 'message' || e.msg.type !== 'points', BOUND_MS);
        if (answer?.kind !== 'message' || answer.msg.type !== 'accept') return { reached: false, missed: JSON.stringify(answer), end: 'closed', answers: [] };
        if (c.stage === 'psi' && !(await link.waitFor((e) => e.kind === 'message' && e.msg.type === 'points', 2_000))) return { reached: false, missed: 'no points', end: 'closed', answers: [] };
      }
      if (c.stage === 'joined') link.send({ type: 'join', queryId });
      const from = link.events.length;
      for (const s of c.sends) {
        if ('plaintext' in s) link.sendPlaintext(s.plaintext);
        else if ('raw' in s) link.sendRaw(s.raw, s.binary);
        else link.sendRaw(link.sent.at(-1)!);
      }
      const valid = wellFormed(c.sends);
      const closed = await link.waitFor((e) => e.kind === 'closed', valid ? GRACE_MS : BOUND_MS, from);
      return { reached: true, end: closed ? 'closed' : valid ? 'waiting' : 'hang', answers: link.events.slice(from) };
    } finally {
      link.close();
    }
  }

  it(`up to ${CASES} fuzzed frames at every stage, as many as start within the time budget: the node never exits, answers only with abort, reject or a close, stays small, and answers correctly after`, async () => {
    console.log(`fuzz-session: seed ${SEED} (CLEANROOM_FUZZ_SEED=${SEED} reproduces the inputs), ${CASES} cases`);
    const r = new SeededRand(SEED);
    const all = Array.from({ length: CASES }, (_, i) => makeCase(r, i));
    const node = fc.cluster.nodes.beta!;
    const watch = new NodeWatch(node.process);
    const started = Date.now();
    // Each case draws its query id from a seed of its own, so a run is the same whatever the lanes' timing.
    const outcomes = await inBatchesWithin(all, PARALLEL, { ms: BUDGET_MS, minItems: MIN_CASES }, (c, i) => run(c, new SeededRand(SEED + i + 1)));
    const cases = all.slice(0, outcomes.length);
    watch.stop();
    const wall = Date.now() - started;

    const problems: string[] = [];
    const tally = new Map<string, number>();
    const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
    const ends = { closed: 0, waiting: 0, hang: 0 };
    const reached: Record<Stage, number> = { fresh: 0, accepted: 0, psi: 0, joined: 0 };
    const missed = new Set<string>();
    cases.forEach((c, i) => {
      const o = outcomes[i]!;
      // Message cases count under their type and their mutation, frame-level cases under their kind.
      const [head, tail] = c.kind.split(': ') as [string, string];
      if (head === 'frame') count(c.kind);
      else {
        count(`type ${head}`);
        count(`mutation: ${tail}`);
      }
      ends[o.end] += 1;
      if (o.reached) reached[c.stage] += 1;
      if (o.missed) missed.add(o.missed.slice(0, 200));
      if (o.connectError) problems.push(`case ${i} (${c.stage}, ${c.kind}): the insider could not connect: ${o.connectError}`);
      if (o.end === 'hang') problems.push(`case ${i} (${c.stage}, ${c.kind}): still open ${BOUND_MS} ms after a frame the node cannot take`);
      const types = o.answers.flatMap((e) => (e.kind === 'message' ? [e.msg.type] : []));
      types.forEach((t, j) => {
        if (!ALLOWED_ANSWERS.has(t) && !(t === 'bye' && types[j - 1] === 'reject')) problems.push(`case ${i} (${c.stage}, ${c.kind}): the node answered with ${types.join(', ')}`);
      });
      for (const e of o.answers) if (e.kind === 'undecodable') problems.push(`case ${i} (${c.stage}, ${c.kind}): the node sent an undecodable frame: ${e.detail}`);
    });
    console.log(
      [
        `fuzz-session: ${cases.length} of ${CASES} cases in ${wall} ms; ends: ${ends.closed} closed by the node, ${ends.waiting} waiting on a well-formed message, ${ends.hang} hangs; node ${watch.exit ?? 'alive'}, max RSS ${watch.maxRssMiB.toFixed(0)} MiB`,
        `  stages reached: ${STAGES.map((s) => `${s} ${reached[s]}/${cases.filter((c) => c.stage === s).length}`).join(', ')}${missed.size > 0 ? `; missed because of ${[...missed].join(' | ')}` : ''}`,
        ...[...tally].sort().map(([k, n]) => `  ${k}: ${n}`),
      ].join('\n'),
    );

    expect(watch.exit, 'the node process exited').toBeUndefined();
    expect(problems.slice(0, 20)).toEqual([]);
    // Each stage was really reached by most of its cases (a proposal can be refused only at the peer-query limit).
    for (const s of STAGES) expect(reached[s], `cases that reached the stage ${s}`).toBeGreaterThan(cases.filter((c) => c.stage === s).length * 0.8);
    expect(watch.maxRssMiB).toBeLessThan(RSS_CEILING_MIB);
    expect(node.log.join('')).not.toContain('internal error');
    await fc.expectCorrectAnswers();
  });

  it(`a member's idle connections beyond MAX_IDLE_CONNECTIONS_PER_MEMBER are closed, oldest first, and its queries still run`, async () => {
    const EXTRA = 8;
    const links: Awaited<ReturnType<typeof connect>>[] = [];
    // One at a time, so that "oldest" is the order they were opened in.
    for (let i = 0; i < MAX_IDLE_CONNECTIONS_PER_MEMBER + EXTRA; i++) links.push(await connect());
    for (let i = 0; i < 100 && links.filter((l) => l.closed).length < EXTRA; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(links.map((l) => l.closed)).toEqual(links.map((_, i) => i < EXTRA));
    // The insider's member still runs its real queries (each a fresh connection that speaks at once).
    await fc.expectCorrectAnswers();
    for (const l of links) l.close();
  });

  it(`joins beyond MAX_PARKED_JOINS_PER_MEMBER wait nowhere: they are aborted at once, and a closed one frees its place`, async () => {
    const r = new SeededRand(SEED);
    // One after another: more handshakes than MAX_CLAIMED_HANDSHAKES_PER_SOURCE at once from one address are refused
    // at their hello (src/transport/preauth-pool.ts), which is not what this test is about.
    const links: Awaited<ReturnType<typeof connect>>[] = [];
    for (let i = 0; i < MAX_PARKED_JOINS_PER_MEMBER + 4; i++) links.push(await connect());
    for (const l of links) l.send({ type: 'join', queryId: r.hex(16) });
    for (let i = 0; i < 100 && links.filter((l) => l.closed).length < 4; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    // A moment more, in which no parked join may end.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const refused = links.filter((l) => l.closed);
    expect(refused).toHaveLength(4);
    for (const l of refused) {
      expect(l.events.find((e) => e.kind === 'message')).toMatchObject({ kind: 'message', msg: { type: 'abort', code: 'LIMIT_EXCEEDED' } });
    }
    const parked = links.filter((l) => !l.closed);
    parked[0]!.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await connect();
    again.send({ type: 'join', queryId: r.hex(16) });
    expect(await again.waitFor((e) => e.kind === 'closed', 1_000)).toBeUndefined();
    for (const l of [...parked, again]) l.close();
    await fc.expectCorrectAnswers();
  });
});
