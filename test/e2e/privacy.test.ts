/**
 * What crosses the wire: both nodes run in this process with a tap on the plaintext of every frame they send and
 * receive (CleanroomNode's test-only `tap` option: nothing in the product writes frames anywhere), and no raw key,
 * normalised key, unblinded H(k) or individual row value may be in any of them.
 */
import { type QueryResult } from '../../src/query/result.js';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng, writeCsv } from '../../scripts/demo-data.js';
import { createCluster, freePort, query, type LocalMember } from '../../scripts/local-cluster.js';
// The compiled node: its crypto pool starts worker threads from the compiled worker file (npm test builds first).
// @ts-expect-error the compiled module has no declarations (tsc emits none); its types are those of src/node/node.ts
import { CleanroomNode as CompiledNode } from '../../dist/src/node/node.js';
import type { CleanroomNode as SourceNode } from '../../src/node/node.js';
import { selectBackend } from '../../src/crypto/backend.js';
import { hashToGroupDst } from '../../src/crypto/group.js';
import type { Table } from '../../src/manifest/schema.js';
import { readCsvRows } from '../../scripts/plaintext/csv-tables.js';
import { keySet } from '../../scripts/plaintext/rows.js';
import { makeTempDir } from './helpers.js';
import { messEmail, type Rand } from './random-data.js';

const COLLABORATION = 'privacy-check';
const MIN_KEYS = 5;
const utf8 = (s: string) => new TextEncoder().encode(s);

const tables: Table[] = [
  {
    name: 'buyers',
    owner: 'alpha',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'amount', type: 'decimal', scale: 2, min: -100_000, max: 100_000 },
      { name: 'category', type: 'string' },
      { name: 'basket', type: 'integer', min: 0, max: 100_000_000 },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['category'], minDistinctKeys: MIN_KEYS, overlapDisclosure: ['beta'] },
  },
  {
    name: 'viewers',
    owner: 'beta',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'region', type: 'string' },
      { name: 'segment', type: 'string' },
      { name: 'impressions', type: 'integer', min: 0, max: 100_000_000 },
      { name: 'spend', type: 'decimal', scale: 2, min: 0, max: 100_000 },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'impressions', functions: ['sum'] }], dimensions: ['region'], minDistinctKeys: MIN_KEYS, overlapDisclosure: [{ member: 'alpha', filters: ['region'] }] },
  },
];

const COUNT_SQL = "SELECT COUNT(*) FROM viewers v JOIN buyers b ON v.email = b.email WHERE v.region = 'region-north'";
const GROUP_SQL = "SELECT b.category, COUNT(*), SUM(b.amount), AVG(b.amount) FROM buyers b JOIN viewers v ON b.email = v.email WHERE v.region = 'region-north' GROUP BY b.category";

const RELEASED = ['Released-Albatross', 'Released-Bison', 'Released-Cormorant'];
/** Categories of matched rows whose groups rest on fewer than MIN_KEYS keys, or of unmatched rows only. */
const SUPPRESSED = { 'Suppressed-Quokka': [160, 161, 10, 11], 'Suppressed-Narwhal': [170, 171, 172, 173, 20], 'Unmatched-Okapi': [30, 31, 32, 33, 34, 35] } as const;

const person = (i: number) => {
  const local = ['Zoë', '张伟', 'Øyvind', '😀smile', 'ana.maria'][i % 5];
  return `${local}.${String(i).padStart(4, '0')}@${['Exämple.com', '例子.中国', 'Mail.Test'][i % 3]}`;
};

interface Data {
  buyers: (string | number | null)[][];
  viewers: (string | number | null)[][];
}

/** Alpha knows people 0..299, beta 150..399; every value that is not a key is unique and distinctive. */
function generate(rand: Rand): Data {
  const categoryOf = (i: number) => {
    for (const [c, ids] of Object.entries(SUPPRESSED)) if ((ids as readonly number[]).includes(i)) return c;
    return RELEASED[i % RELEASED.length]!;
  };
  const buyers: Data['buyers'] = [];
  let n = 0;
  for (let i = 0; i < 300; i++) {
    for (let r = 0; r < 1 + (i % 2); r++) {
      n += 1;
      const amount = `${7000 + n}.${String((n * 37) % 100).padStart(2, '0')}`;
      buyers.push([messEmail(rand, person(i)), amount, categoryOf(i), 40_000_000 + n * 7919]);
    }
  }
  buyers.push([null, '1.00', RELEASED[0]!, 1], ['   ', '2.00', RELEASED[1]!, 2]);
  const viewers: Data['viewers'] = [];
  let m = 0;
  for (let i = 150; i < 400; i++) {
    for (let r = 0; r < 1 + (i % 3); r++) {
      m += 1;
      // Each person's first row is in region-north, so every person of 150..299 matches in both queries.
      viewers.push([messEmail(rand, person(i)), r === 0 || rand() < 0.6 ? 'region-north' : 'region-south-Xq', `Segment-Zanzibar-${String(m).padStart(4, '0')}`, 60_000_000 + m * 40_009, `${3000 + m}.${String((m * 53) % 100).padStart(2, '0')}`]);
    }
  }
  viewers.push(['\t', 'region-north', 'Segment-Empty-Key', 3, '3.00']);
  return { buyers, viewers };
}

interface Frame {
  readonly dir: 'i' | 'o';
  readonly bytes: Buffer;
}

/** Parses a frame log: 1 direction byte ('i' or 'o'), 4-byte little-endian length, the frame's plaintext. */
interface Needle {
  readonly what: string;
  readonly bytes: Buffer;
}

/** Every needle found in some frame, with the frame's index. */
function scan(frames: readonly Buffer[], needles: readonly Needle[]): { what: string; frame: number }[] {
  const found: { what: string; frame: number }[] = [];
  for (const n of needles) {
    const f = frames.findIndex((b) => b.indexOf(n.bytes) >= 0);
    if (f >= 0) found.push({ what: n.what, frame: f });
  }
  return found;
}

const unpacker = new Packr({ useRecords: false, mapsAsObjects: true });
const decode = (b: Buffer) => unpacker.unpack(b) as { type: string; stage?: string; points?: Uint8Array; sql?: string; labels?: unknown[][] };

describe('nothing but blinded keys, shares and released results crosses between nodes', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>> | undefined;
  let stop: (() => Promise<void>) | undefined;
  let data: Data;
  let logs: Record<'alpha' | 'beta', Frame[]>;
  let results: { count: QueryResult; group: QueryResult };
  let normalised: { alpha: string[]; beta: string[] };

  beforeAll(async () => {
    tmp = await makeTempDir('privacy');
    data = generate(prng(99));
    const files = { buyers: join(tmp.dir, 'buyers.csv'), viewers: join(tmp.dir, 'viewers.csv') };
    await writeCsv(files.buyers, ['email', 'amount', 'category', 'basket'], data.buyers);
    await writeCsv(files.viewers, ['email', 'region', 'segment', 'impressions', 'spend'], data.viewers);
    logs = { alpha: [], beta: [] };
    const members: LocalMember[] = [
      { id: 'alpha', name: 'Alpha Shop', port: await freePort(), controlPort: await freePort(), tables: { buyers: { path: files.buyers, format: 'csv' } } },
      { id: 'beta', name: 'Beta Media', port: await freePort(), controlPort: await freePort(), tables: { viewers: { path: files.viewers, format: 'csv' } } },
    ];
    const { nodeDirs } = await createCluster({ dir: join(tmp.dir, 'nodes'), collaborationId: COLLABORATION, members, tables, queriers: ['alpha', 'beta'], receivers: ['alpha', 'beta'] });
    const nodes = await Promise.all(
      (['alpha', 'beta'] as const).map(async (id) => {
        const tap = (dir: 'in' | 'out', bytes: Uint8Array) => logs[id].push({ dir: dir === 'in' ? 'i' : 'o', bytes: Buffer.from(bytes) });
        const node = await (CompiledNode as typeof SourceNode).open(join(nodeDirs[id]!, 'config.json'), () => {}, { tap });
        await node.listen();
        return node;
      }),
    );
    stop = () => Promise.all(nodes.map((n) => n.close())).then(() => {});
    const count = await query(nodeDirs.beta!, COUNT_SQL);
    const group = await query(nodeDirs.alpha!, GROUP_SQL);
    if (count.kind !== 'result' || group.kind !== 'result') throw new Error(`queries failed: ${JSON.stringify([count, group])}`);
    results = { count: count.result, group: group.result };
    // Closing the nodes makes sure every frame of both sessions has gone through the taps.
    await stop();
    // Each table's distinct normalised keys, as the plaintext oracle computes them from the files.
    const keys = async (table: 'buyers' | 'viewers') => [...keySet(tables.find((t) => t.name === table)!, await readCsvRows(files[table]))].sort();
    normalised = { alpha: await keys('buyers'), beta: await keys('viewers') };
  });

  afterAll(async () => {
    await stop?.();
    await tmp?.cleanup();
  });

  const allFrames = () => [...logs.alpha, ...logs.beta].map((f) => f.bytes);

  it('the queries ran and released what they should', () => {
    // People 150..299 are on both sides: every one of them has a region-north row.
    expect(results.count.rows).toEqual([[150]]);
    expect(results.group.rows.map((r) => r[0])).toEqual(RELEASED);
    expect(normalised.alpha.length).toBe(300);
    expect(normalised.beta.length).toBe(250);
  });

  it('the frames were really recorded: both directions, both queries, blinded point streams of every stage', () => {
    for (const id of ['alpha', 'beta'] as const) {
      const frames = logs[id];
      expect(frames.length, id).toBeGreaterThan(10);
      expect(frames.some((f) => f.dir === 'i')).toBe(true);
      expect(frames.some((f) => f.dir === 'o')).toBe(true);
      const messages = frames.map((f) => ({ dir: f.dir, msg: decode(f.bytes) }));
      expect(messages.filter((m) => m.msg.type === 'propose').length, id).toBe(2);
      const points = messages.filter((m) => m.msg.type === 'points');
      expect(new Set(points.map((m) => m.msg.stage))).toEqual(new Set(['q', 'p', 'pq']));
      for (const m of points) expect(m.msg.points!.length % 32).toBe(0);
      const types = new Set(messages.map((m) => m.msg.type));
      for (const t of ['hello', 'auth', 'accept', 'points-end', 'shares', 'open', 'labels']) expect(types.has(t), `${id} ${t}`).toBe(true);
    }
    // What one node sent is exactly what the other received, frame for frame (but the closing `bye`, which a peer
    // that is closing at the same moment does not read).
    const bytes = (id: 'alpha' | 'beta', dir: 'i' | 'o') => logs[id].filter((f) => f.dir === dir && decode(f.bytes).type !== 'bye').map((f) => f.bytes.toString('hex'));
    expect(bytes('alpha', 'o')).toEqual(bytes('beta', 'i'));
    expect(bytes('beta', 'o')).toEqual(bytes('alpha', 'i'));
    // Each side's blinded set is as large as its distinct key set (filtered by region for beta), in both queries.
    const sent = (id: 'alpha' | 'beta') => logs[id].filter((f) => f.dir === 'o').map((f) => decode(f.bytes)).filter((m) => m.type === 'points').reduce((n, m) => n + m.points!.length / 32, 0);
    // alpha: H(q)^b of its 300 keys and beta's 250 returned as H(p)^ab (count-only, beta aggregates), then H(p)^a of its 300.
    expect(sent('alpha')).toBe(300 + 250 + 300);
    expect(sent('beta')).toBe(250 + 300 + 250);
  });

  it('the proposal SQL and the released labels do cross (the scan sees the plaintext)', () => {
    const frames = allFrames();
    expect(scan(frames, [COUNT_SQL, GROUP_SQL, ...RELEASED].map((s) => ({ what: s, bytes: Buffer.from(s) }))).length).toBe(2 + RELEASED.length);
    expect(scan(frames, [{ what: 'filter literal', bytes: Buffer.from('region-north') }])).toHaveLength(1);
  });

  it('the scan finds a key, a normalised key, H(k) and a value when one is present (synthetic frames)', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    const k = normalised.alpha[7]!;
    const h = Buffer.from(selectBackend('noble').hashToGroup([utf8(k)], hashToGroupDst(COLLABORATION)));
    const raw = String(data.buyers[3]![0]);
    const synthetic = [
      packr.pack({ type: 'points', points: Buffer.concat([Buffer.alloc(64, 1), h, Buffer.alloc(32, 2)]) }),
      packr.pack({ type: 'labels', labels: [[`x${k}y`]] }),
      packr.pack({ type: 'propose', sql: `SELECT '${raw}'` }),
      packr.pack({ type: 'abort', message: `amount ${data.buyers[5]![1]} rejected` }),
    ];
    const needles = [
      { what: 'H', bytes: h },
      { what: 'norm', bytes: Buffer.from(utf8(k)) },
      { what: 'raw', bytes: Buffer.from(utf8(raw)) },
      { what: 'amount', bytes: Buffer.from(String(data.buyers[5]![1])) },
      { what: 'absent', bytes: Buffer.from('Suppressed-Quokka') },
    ];
    expect(scan(synthetic, needles)).toEqual([
      { what: 'H', frame: 0 },
      { what: 'norm', frame: 1 },
      { what: 'raw', frame: 2 },
      { what: 'amount', frame: 3 },
    ]);
  });

  it('no raw key, normalised key or unblinded H(k) is in any frame', () => {
    const dst = hashToGroupDst(COLLABORATION);
    const noble = selectBackend('noble');
    const raws = [...data.buyers, ...data.viewers].map((r) => r[0]).filter((k): k is string => typeof k === 'string' && k.trim().length > 0);
    const norms = [...new Set([...normalised.alpha, ...normalised.beta])];
    expect(norms.length).toBe(400);
    // Every key here is long enough that a chance occurrence in random bytes is out of the question.
    expect(Math.min(...norms.map((k) => utf8(k).length))).toBeGreaterThanOrEqual(16);
    const hashes = noble.hashToGroup(norms.map(utf8), dst);
    const needles: Needle[] = [
      ...raws.map((k) => ({ what: `raw key ${JSON.stringify(k)}`, bytes: Buffer.from(utf8(k)) })),
      ...norms.map((k) => ({ what: `normalised key ${JSON.stringify(k)}`, bytes: Buffer.from(utf8(k)) })),
      ...norms.map((k, i) => ({ what: `H(${JSON.stringify(k)})`, bytes: Buffer.from(hashes.subarray(32 * i, 32 * (i + 1))) })),
    ];
    expect(needles.length).toBeGreaterThan(1500);
    expect(scan(allFrames(), needles)).toEqual([]);
  });

  it('no individual row value, suppressed group label or unqueried partner value is in any frame', () => {
    const strings = new Set<string>();
    for (const [, amount, , basket] of data.buyers) strings.add(String(amount)).add(String(basket));
    for (const [, region, segment, impressions, spend] of data.viewers) {
      if (region !== 'region-north') strings.add(String(region)); // the filter literal is in the SQL; the other value is not
      strings.add(String(segment)).add(String(impressions)).add(String(spend));
    }
    for (const c of Object.keys(SUPPRESSED)) strings.add(c);
    // Values short enough to occur by chance (the two rows with empty keys) are left out.
    const needles = [...strings].filter((s) => s.length >= 7).map((s) => ({ what: s, bytes: Buffer.from(utf8(s)) }));
    expect(needles.length).toBeGreaterThan(1000);
    expect(needles.some((n) => n.what === 'Suppressed-Quokka')).toBe(true);
    expect(needles.some((n) => n.what === 'region-south-Xq')).toBe(true);
    expect(scan(allFrames(), needles)).toEqual([]);
  });
});
