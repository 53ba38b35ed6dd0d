/**
 * Both parties of a two-party query in one process, over in-memory pipes: no sockets, no DuckDB.
 *
 * The harness plays the part of src/node/session-runner.ts for both members: it hashes each side's own
 * distinct normalised keys and feeds them to its machine in batches, answers the aggregator's `aggregate`
 * request from small in-memory tables (the semi-join TableStore.aggregateMatched runs in DuckDB), and
 * carries every message across as a msgpack frame, decoded with the SessionMessage schema exactly as
 * PeerConnection does. A test may intercept any message in flight to alter, drop, duplicate, delay or
 * replace it, or hand a machine a message directly.
 */
import { type GroupAggregate, type Cell } from '../../src/query/result.js';
import { randomBytes } from 'node:crypto';
import { SessionMessage } from '../../src/wire/messages.js';
import { selectBackend } from '../../src/crypto/backend.js';
import { hashToGroupDst, type GroupBackend } from '../../src/crypto/group.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { asCleanroomError, type CleanroomError } from '../../src/errors.js';
import { MANIFEST_FORMAT, Manifest as ManifestSchema, type Column, type Manifest, type Table } from '../../src/manifest/schema.js';
import { generateIdentity, hex, type Identity } from '../../src/manifest/identity.js';
import { AggregatorSession } from '../../src/session/aggregator.js';
import { completeBlinds } from '../support/local-driver.js';
import { PartnerSession } from '../../src/session/partner.js';
import type { Outcome, Step } from '../../src/session/step.js';
import type { Literal, Predicate } from '../../src/query/ast.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery, type QueryPlan, type TableSide } from '../../src/query/plan.js';
import { decodeFrame, encodeFrame } from '../../src/wire/codec.js';

// ---------------------------------------------------------------------------------------------------------
// The collaboration: two tables shaped like the demo's (scripts/demo.ts), plus a few columns the rules
// tests need (a non-dimension string, an integer nobody may aggregate, an integer that may only be summed).
// ---------------------------------------------------------------------------------------------------------

export const PUBLISHER = 'publisher';
export const ADVERTISER = 'advertiser';
/** A third member: owns no table; used as a receiver that is neither party, and by the handshake tests. */
export const AUDITOR = 'auditor';
export const COLLABORATION = 'spring-campaign';

export interface ManifestOptions {
  readonly minDistinctKeys?: { readonly publisher?: number; readonly advertiser?: number };
  readonly overlapDisclosure?: { readonly publisher?: readonly string[]; readonly advertiser?: readonly string[] };
  readonly queriers?: readonly string[];
  readonly receivers?: readonly string[];
  readonly collaborationId?: string;
}

export interface Collaboration {
  readonly manifest: Manifest;
  readonly identities: Readonly<Record<string, Identity>>;
}

export function publisherTable(o: ManifestOptions = {}): Table {
  return {
    name: PUBLISHER,
    owner: PUBLISHER,
    columns: [
      { name: 'email', type: 'string' },
      { name: 'campaign', type: 'string' },
      { name: 'impressions', type: 'integer', min: 0, max: 1_000_000 },
      { name: 'region', type: 'string' },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [{ column: 'impressions', functions: ['sum', 'avg'] }],
      dimensions: ['campaign'],
      minDistinctKeys: o.minDistinctKeys?.publisher ?? 3,
      overlapDisclosure: [...(o.overlapDisclosure?.publisher ?? [ADVERTISER])],
    },
  };
}

export function advertiserTable(o: ManifestOptions = {}): Table {
  return {
    name: ADVERTISER,
    owner: ADVERTISER,
    columns: [
      { name: 'email', type: 'string' },
      { name: 'amount', type: 'decimal', scale: 2, min: -100_000, max: 100_000 },
      { name: 'category', type: 'string' },
      { name: 'items', type: 'integer', min: 0, max: 1000 },
      { name: 'age', type: 'integer', min: 0, max: 150 },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [
        { column: 'amount', functions: ['sum', 'avg'] },
        { column: 'items', functions: ['sum'] },
      ],
      dimensions: ['category'],
      minDistinctKeys: o.minDistinctKeys?.advertiser ?? 3,
      overlapDisclosure: [...(o.overlapDisclosure?.advertiser ?? [])],
    },
  };
}

/** A schema-valid manifest with fresh member identities (publisher, advertiser, auditor). */
export function buildCollaboration(o: ManifestOptions = {}): Collaboration {
  const ids = [PUBLISHER, ADVERTISER, AUDITOR];
  const identities = Object.fromEntries(ids.map((id) => [id, generateIdentity(id)]));
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    collaborationId: o.collaborationId ?? COLLABORATION,
    name: 'Spring campaign measurement (test)',
    version: 1,
    members: ids.map((id, i) => ({ id, name: `${id} org`, endpoint: `ws://127.0.0.1:${7100 + i}`, publicKey: hex(identities[id]!.publicKey) })),
    tables: [publisherTable(o), advertiserTable(o)],
    queriers: [...(o.queriers ?? [PUBLISHER, ADVERTISER])],
    receivers: [...(o.receivers ?? [PUBLISHER, ADVERTISER])],
  };
  // What a node would load: the schema (with its cross-field checks) must accept it.
  return { manifest: ManifestSchema.parse(manifest), identities };
}

// ---------------------------------------------------------------------------------------------------------
// In-memory tables and their plaintext semantics
// ---------------------------------------------------------------------------------------------------------

/** Strings for string and decimal columns ("12.50"), numbers for integer columns, null for missing. */
export type { Cell };
export type Row = Readonly<Record<string, Cell>>;
export type Dataset = Readonly<Record<string, readonly Row[]>>;

export { prng } from '../../scripts/demo-data.js';
import { prng } from '../../scripts/demo-data.js';

export const CAMPAIGNS = ['spring', 'summer', 'autumn', 'winter'] as const;
export const CATEGORIES = ['books', 'garden', 'toys', 'music'] as const;

export interface DataOptions {
  readonly seed?: number;
  /** Person ids the publisher's rows are drawn from, [from, to). */
  readonly publisherPeople: readonly [number, number];
  readonly advertiserPeople: readonly [number, number];
  readonly publisherRows: number;
  readonly advertiserRows: number;
}

export const emailOf = (person: number) => `person${person}@${['example.com', 'mail.test', 'post.example'][person % 3]}`;

/**
 * Messy rows like the demo's: mixed case and stray ASCII whitespace around emails, people repeated,
 * a few NULL and empty keys, refunds as negative amounts, NULL amounts and categories.
 */
export function makeData(o: DataOptions): Dataset {
  const rand = prng(o.seed ?? 7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const person = ([from, to]: readonly [number, number]) => from + Math.floor(rand() * (to - from));
  const mess = (e: string) => {
    const r = rand();
    const cased = r < 0.3 ? e.toUpperCase() : r < 0.45 ? e[0]!.toUpperCase() + e.slice(1) : e;
    const w = rand();
    return w < 0.1 ? `  ${cased}` : w < 0.2 ? `${cased} ` : w < 0.25 ? `\t${cased}\r\n` : cased;
  };
  const publisher: Row[] = Array.from({ length: o.publisherRows }, () => ({
    email: rand() < 0.02 ? null : rand() < 0.02 ? '   ' : mess(emailOf(person(o.publisherPeople))),
    campaign: pick(CAMPAIGNS),
    impressions: Math.floor(rand() * 50),
    region: pick(['eu', 'us', 'apac']),
  }));
  const advertiser: Row[] = Array.from({ length: o.advertiserRows }, () => {
    const cents = rand() < 0.1 ? -Math.floor(rand() * 5000) : 100 + Math.floor(rand() * 50000);
    return {
      email: rand() < 0.02 ? '' : mess(emailOf(person(o.advertiserPeople))),
      amount: rand() < 0.05 ? null : (cents / 100).toFixed(2),
      category: rand() < 0.05 ? null : pick(CATEGORIES),
      items: Math.floor(rand() * 10),
      age: 18 + Math.floor(rand() * 60),
    };
  });
  return { [PUBLISHER]: publisher, [ADVERTISER]: advertiser };
}

/** One key per person, no mess: sets with an exactly known intersection. */
export function cleanData(publisherPeople: readonly number[], advertiserPeople: readonly number[]): Dataset {
  return {
    [PUBLISHER]: publisherPeople.map((p, i) => ({ email: emailOf(p), campaign: CAMPAIGNS[i % 4]!, impressions: (p % 50) + 1, region: 'eu' })),
    [ADVERTISER]: advertiserPeople.map((p, i) => ({ email: emailOf(p), amount: `${p % 900}.${String(p % 100).padStart(2, '0')}`, category: CATEGORIES[i % 4]!, items: p % 7, age: 30 })),
  };
}

const ASCII_WS = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g;

/** The normalisations of src/data/normalize.ts, written again in JS. */
export function normalizeKey(v: Cell, table: Table): string | null {
  if (v === null) return null;
  const s = String(v);
  switch (table.joinKey.normalization) {
    case 'exact':
      return s;
    case 'email':
      return s.replace(ASCII_WS, '').toLowerCase();
    case 'phone':
      return s.replace(/[^0-9]/g, '');
  }
}

/** An exact decimal as (integer, scale). */
function rational(text: string): { n: bigint; scale: number } {
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(text.trim());
  if (!m) throw new Error(`not a decimal: ${text}`);
  const frac = m[3] ?? '';
  const n = BigInt(m[2]! + frac);
  return { n: m[1] === '-' ? -n : n, scale: frac.length };
}

function compareNumbers(a: string, b: string): number {
  const x = rational(a);
  const y = rational(b);
  const scale = Math.max(x.scale, y.scale);
  const xa = x.n * 10n ** BigInt(scale - x.scale);
  const ya = y.n * 10n ** BigInt(scale - y.scale);
  return xa < ya ? -1 : xa > ya ? 1 : 0;
}

/** SQL semantics of one predicate over one row: NULL satisfies nothing. */
export function matchesPredicate(row: Row, p: Predicate, table: Table): boolean {
  const column = table.columns.find((c) => c.name === p.column.column)!;
  const v = row[column.name] ?? null;
  if (v === null) return false;
  const cmp = (lit: Literal): number => {
    if (column.type === 'string') {
      const s = String(lit.value);
      return String(v) < s ? -1 : String(v) > s ? 1 : 0;
    }
    return compareNumbers(String(v), String(lit.value));
  };
  switch (p.kind) {
    case 'compare': {
      const c = cmp(p.value);
      return { '=': c === 0, '!=': c !== 0, '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0 }[p.op];
    }
    case 'in':
      return p.values.some((l) => cmp(l) === 0);
    case 'between':
      return cmp(p.low) >= 0 && cmp(p.high) <= 0;
  }
}

/** The filtered rows of a side that have a usable key, each with its normalised key. */
export function filteredRows(side: TableSide, data: Dataset): { row: Row; key: string }[] {
  const rows = data[side.table.name] ?? [];
  return rows.flatMap((row) => {
    if (!side.filters.every((f) => matchesPredicate(row, f, side.table))) return [];
    const key = normalizeKey(row[side.table.joinKey.column] ?? null, side.table);
    return key === null || key === '' ? [] : [{ row, key }];
  });
}

/** Distinct normalised keys in first-seen order: what TableStore.distinctKeys feeds the machine. */
export function distinctKeys(side: TableSide, data: Dataset): string[] {
  return [...new Set(filteredRows(side, data).map((r) => r.key))];
}

/** A value in units of 10^-scale of its column (integers: scale 0). */
export function units(v: Cell, column: Column): bigint | null {
  if (v === null) return null;
  if (column.type === 'integer') return BigInt(v as number);
  if (column.type !== 'decimal') throw new Error(`${column.name} is not numeric`);
  const r = rational(String(v));
  if (r.scale > column.scale) throw new Error(`${v} has more than ${column.scale} decimals`);
  return r.n * 10n ** BigInt(column.scale - r.scale);
}

function labelOf(v: Cell, column: Column): Cell {
  if (v === null) return null;
  return column.type === 'integer' ? Number(v) : String(v);
}

function compareLabels(a: readonly Cell[], b: readonly Cell[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    if (x === null) return 1; // NULLS LAST
    if (y === null) return -1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * The driver's answer to the aggregator's `aggregate` request, as TableStore.aggregateMatched computes it
 * in DuckDB: per group of the filtered rows whose key is among `matched`, [rows, distinct keys, then per
 * sum column (sum in units, non-null count)], groups sorted by label with NULLs last.
 */
export function aggregateMatched(side: TableSide, plan: QueryPlan, matched: Iterable<string>, data: Dataset): GroupAggregate[] {
  const keys = new Set(matched);
  const table = side.table;
  const col = (name: string) => table.columns.find((c) => c.name === name)!;
  const groups = new Map<string, { labels: Cell[]; rows: bigint; keys: Set<string>; sums: bigint[]; counts: bigint[] }>();
  for (const { row, key } of filteredRows(side, data)) {
    if (!keys.has(key)) continue;
    const labels = plan.groupBy.map((g) => labelOf(row[g] ?? null, col(g)));
    const id = JSON.stringify(labels);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { labels, rows: 0n, keys: new Set(), sums: plan.sumColumns.map(() => 0n), counts: plan.sumColumns.map(() => 0n) }));
    g.rows += 1n;
    g.keys.add(key);
    plan.sumColumns.forEach((name, i) => {
      const u = units(row[name] ?? null, col(name));
      if (u !== null) {
        g!.sums[i]! += u;
        g!.counts[i]! += 1n;
      }
    });
  }
  return [...groups.values()]
    .sort((a, b) => compareLabels(a.labels, b.labels))
    .map((g) => ({ labels: g.labels, values: [g.rows, BigInt(g.keys.size), ...g.sums.flatMap((s, i) => [s, g.counts[i]!])] }));
}

// ---------------------------------------------------------------------------------------------------------
// The plaintext reference: what the clean room must answer, computed from both tables directly
// ---------------------------------------------------------------------------------------------------------

function decimalText(v: bigint, scale: number): string {
  if (scale === 0) return v.toString();
  const neg = v < 0n;
  const abs = (neg ? -v : v).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${abs.slice(0, abs.length - scale)}.${abs.slice(abs.length - scale)}`;
}

/** sum / n (sum in units of 10^-scale) with 6 decimals, rounded half away from zero. */
function averageText(sum: bigint, n: bigint, scale: number): string {
  const num = sum * 1_000_000n;
  const den = n * 10n ** BigInt(scale);
  const neg = num < 0n;
  const abs = neg ? -num : num;
  let q = abs / den;
  if ((abs % den) * 2n >= den) q += 1n;
  return decimalText(neg ? -q : q, 6);
}

export interface ExpectedResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
}

/**
 * The answer over pooled plaintext, written from the query's meaning rather than from the machines:
 * count-only is the number of distinct keys on both filtered sides; aggregate mode is a semi-join (a P row
 * counts once if its key appears at least once on Q's filtered side), and a group resting on fewer distinct
 * matched keys than the strictest minDistinctKeys is absent.
 */
export function expectedResult(plan: QueryPlan, data: Dataset): ExpectedResult {
  const columns = plan.outputs.map((o) => o.name);
  const qKeys = new Set(filteredRows(plan.others[0]!, data).map((r) => r.key));
  if (plan.mode === 'count-only') {
    const common = new Set(filteredRows(plan.aggregator, data).map((r) => r.key).filter((k) => qKeys.has(k))).size;
    if (common < plan.minDistinctKeys) return { columns, rows: [] };
    return { columns, rows: [plan.outputs.map(() => common)] };
  }
  const table = plan.aggregator.table;
  const col = (name: string) => table.columns.find((c) => c.name === name)!;
  const groups = new Map<string, { labels: Cell[]; rows: { row: Row; key: string }[] }>();
  for (const r of filteredRows(plan.aggregator, data)) {
    if (!qKeys.has(r.key)) continue;
    const labels = plan.groupBy.map((g) => labelOf(r.row[g] ?? null, col(g)));
    const id = JSON.stringify(labels);
    const g = groups.get(id) ?? { labels, rows: [] };
    g.rows.push(r);
    groups.set(id, g);
  }
  const rows: Cell[][] = [];
  for (const g of groups.values()) {
    if (new Set(g.rows.map((r) => r.key)).size < plan.minDistinctKeys) continue;
    rows.push(
      plan.outputs.map((o): Cell => {
        if (o.kind === 'dimension') return g.labels[plan.groupBy.indexOf(o.column.column)] ?? null;
        const a = o.aggregate;
        if (a.fn === 'count') return g.rows.length;
        const c = col(a.column.column);
        const scale = c.type === 'decimal' ? c.scale : 0;
        const vals = g.rows.map((r) => units(r.row[c.name] ?? null, c)).filter((u): u is bigint => u !== null);
        const sum = vals.reduce((x, y) => x + y, 0n);
        if (a.fn === 'sum') return decimalText(sum, scale);
        return vals.length === 0 ? null : averageText(sum, BigInt(vals.length), scale);
      }),
    );
  }
  return { columns, rows: sortRows(rows) };
}

export function sortRows(rows: readonly (readonly Cell[])[]): (readonly Cell[])[] {
  return [...rows].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------------------

export async function plan(sql: string, manifest: Manifest, querier: string): Promise<QueryPlan> {
  return planQuery(await parseQuery(sql), manifest, querier);
}

// ---------------------------------------------------------------------------------------------------------
// The two-party run
// ---------------------------------------------------------------------------------------------------------

export type Role = 'P' | 'Q';
export const other = (r: Role): Role => (r === 'P' ? 'Q' : 'P');

/**
 * A message on the wire; or raw frame bytes that skip encoding (for schema-level tests); or a message that
 * skips the codec altogether (for what the schema would refuse: the machine's own checks).
 */
export type Wire = SessionMessage | { readonly raw: Uint8Array } | { readonly unchecked: SessionMessage };

export interface Flight {
  readonly from: Role;
  readonly to: Role;
  readonly msg: SessionMessage;
  /** 0-based position of this message among everything `from` sent. */
  readonly n: number;
}

/**
 * Sees every message leaving a party before it crosses. Return undefined to let it through unchanged, or
 * what to put on the wire instead: [] drops it, [m, m] duplicates it, [altered] replaces it, [held, m]
 * delivers a message held back earlier first (reordering).
 */
export type Interceptor = (f: Flight, s: Scenario) => readonly Wire[] | undefined;

export interface ScenarioOptions {
  readonly collaboration: Collaboration;
  readonly sql: string;
  readonly querier: string;
  readonly data: Dataset;
  readonly backend?: 'noble' | 'sodium' | GroupBackend;
  /** Own keys per ownPoints call (the node uses PSI_BATCH_KEYS); small batches exercise the batch numbering. */
  readonly batchKeys?: number;
  /** 'interleaved' (default): own batches are fed between message deliveries, as the node's producer and consumer run concurrently. */
  readonly feed?: 'interleaved' | 'first';
  readonly intercept?: Interceptor;
  /** Rewrites the driver's answer to `aggregate` before it reaches the aggregator. */
  readonly aggregates?: (honest: GroupAggregate[]) => GroupAggregate[];
  readonly queryId?: string;
}

export interface Party {
  readonly role: Role;
  readonly member: string;
  readonly plan: QueryPlan;
  readonly machine: AggregatorSession | PartnerSession;
  readonly secret: QuerySecret;
  /** A copy of the scalar taken before the machine saw it (tests recompute blinded values with it). */
  readonly secretBytes: Uint8Array;
  /** Own distinct normalised keys, in the order they were fed. */
  readonly keys: readonly string[];
  /** Own key batches not yet fed; ownEnd follows the last. */
  pendingBatches: string[][];
  ownEnded: boolean;
  readonly received: SessionMessage[];
  readonly sent: SessionMessage[];
  /** Every Step the machine returned, in order. */
  readonly steps: Step[];
  /** Messages the driver would no longer read because this party had its outcome already. */
  readonly unread: SessionMessage[];
  /** The aggregator's `aggregate` request (matched own key indices) and the driver's answer. */
  matchedIndices?: readonly number[];
  aggregatesGiven?: readonly GroupAggregate[];
  outcome?: Outcome;
  /** A frame refused before it reached the machine (decodeFrame), as PeerConnection would report it. */
  frameError?: CleanroomError;
}

export class Scenario {
  readonly P: Party;
  readonly Q: Party;
  readonly group: GroupBackend;
  readonly queryId: string;
  readonly dst: Uint8Array;
  /** Everything each party sent, before interception, in order. */
  readonly queues: Record<Role, Wire[]> = { P: [], Q: [] };
  /** The wire log: every frame delivered, in delivery order. */
  readonly wire: { from: Role; to: Role; msg: SessionMessage }[] = [];
  private readonly sentCount: Record<Role, number> = { P: 0, Q: 0 };

  private constructor(
    readonly options: ScenarioOptions,
    plans: { P: QueryPlan; Q: QueryPlan },
  ) {
    const o = options;
    this.group = typeof o.backend === 'object' ? o.backend : selectBackend(o.backend ?? 'sodium');
    this.queryId = o.queryId ?? randomBytes(16).toString('hex');
    this.dst = hashToGroupDst(o.collaboration.manifest.collaborationId);
    const pMember = plans.P.aggregator.table.owner;
    const qMember = plans.P.others[0]!.table.owner;
    const make = (role: Role, member: string, peer: string, plan: QueryPlan): Party => {
      const secretBytes = randomBytes(32);
      const secret = QuerySecret.fromBytes(secretBytes);
      const params = { queryId: this.queryId, plan, self: member, peer, group: this.group, secret };
      const side = role === 'P' ? plan.aggregator : plan.others[0]!;
      const keys = distinctKeys(side, o.data);
      const size = o.batchKeys ?? 16;
      const pendingBatches: string[][] = [];
      for (let i = 0; i < keys.length; i += size) pendingBatches.push(keys.slice(i, i + size));
      return {
        role,
        member,
        plan,
        machine: role === 'P' ? new AggregatorSession(params) : new PartnerSession(params),
        secret,
        secretBytes: Uint8Array.from(secretBytes),
        keys,
        pendingBatches,
        ownEnded: false,
        received: [],
        sent: [],
        steps: [],
        unread: [],
      };
    };
    this.P = make('P', pMember, qMember, plans.P);
    this.Q = make('Q', qMember, pMember, plans.Q);
  }

  /** Plans the query independently for each side (as each node does from the proposal) and sets both machines up. */
  static async create(options: ScenarioOptions): Promise<Scenario> {
    const { manifest } = options.collaboration;
    const planP = await plan(options.sql, manifest, options.querier);
    const planQ = await plan(options.sql, manifest, options.querier);
    return new Scenario(options, { P: planP, Q: planQ });
  }

  party(role: Role): Party {
    return role === 'P' ? this.P : this.Q;
  }

  get done(): boolean {
    return this.P.outcome !== undefined && this.Q.outcome !== undefined;
  }

  /** H(k) for keys, with the collaboration's DST. */
  hash(keys: readonly string[]): Uint8Array {
    return this.group.hashToGroup(keys.map((k) => new TextEncoder().encode(k)), this.dst);
  }

  /** Feeds one batch of own keys (or the end of them) to a party, as the node's producer loop does. */
  feedOne(role: Role): boolean {
    const p = this.party(role);
    if (p.ownEnded || p.outcome) return false;
    const batch = p.pendingBatches.shift();
    if (batch) this.apply(p, p.machine.ownPoints(this.group.blind(p.secret, this.hash(batch))));
    else {
      p.ownEnded = true;
      this.apply(p, p.machine.ownEnd());
    }
    return true;
  }

  /** Feeds all own keys of a party and ends its stream. */
  feedAll(role: Role): void {
    while (this.feedOne(role));
  }

  /** Delivers the next message in flight from `from` (through the interceptor); false when none is waiting. */
  deliverNext(from: Role): boolean {
    const wire = this.queues[from].shift();
    if (wire === undefined) return false;
    this.transmit(from, wire);
    return true;
  }

  /**
   * Runs the query: feeds own keys and moves messages both ways, one at a time and alternately, until both
   * parties have an outcome or nothing is left to do. Returns this, for chaining.
   */
  run(maxEvents = 1_000_000): this {
    const feedFirst = this.options.feed === 'first';
    if (feedFirst) {
      this.feedAll('P');
      this.feedAll('Q');
    }
    for (let events = 0; events < maxEvents; events++) {
      if (this.done) return this;
      let progressed = false;
      if (!feedFirst) {
        progressed = this.feedOne('P') || progressed;
        progressed = this.feedOne('Q') || progressed;
      }
      progressed = this.deliverNext('P') || progressed;
      progressed = this.deliverNext('Q') || progressed;
      if (!progressed) return this;
    }
    throw new Error(`scenario did not settle within ${maxEvents} events`);
  }

  /**
   * Hands a machine a message directly, bypassing the interceptor but not the wire codec. Returns the
   * machine's step (also applied: what it sends is queued to the peer). Unlike the pump, this delivers even
   * to a party that already has its outcome: that is how "anything after the end" is tested.
   */
  inject(to: Role, wire: Wire): Step | undefined {
    return this.receiveFrame(other(to), to, wire, true);
  }

  /** Hands a machine a message object without the wire codec: for what the schema would have refused. */
  injectUnchecked(to: Role, msg: SessionMessage): Step {
    const p = this.party(to);
    p.received.push(msg);
    const step = this.complete(p, p.machine.receive(msg));
    this.apply(p, step, true);
    return step;
  }

  private transmit(from: Role, wire: Wire): void {
    const to = other(from);
    const n = this.sentCount[from]++;
    const out = 'type' in wire ? this.options.intercept?.({ from, to, msg: wire, n }, this) ?? [wire] : [wire];
    for (const w of out) this.receiveFrame(from, to, w, false);
  }

  private receiveFrame(from: Role, to: Role, wire: Wire, force: boolean): Step | undefined {
    const receiver = this.party(to);
    let msg: SessionMessage;
    try {
      msg = 'unchecked' in wire ? wire.unchecked : decodeFrame('raw' in wire ? wire.raw : encodeFrame(wire), SessionMessage, 'session');
    } catch (err) {
      // PeerConnection fails the connection; runSession's failLocally sends an abort and settles failed.
      if (receiver.outcome && !force) return undefined;
      const error = asCleanroomError(err);
      receiver.frameError = error;
      if (!receiver.outcome) {
        this.queueFrom(receiver, [{ type: 'abort', queryId: this.queryId, code: error.code, message: error.message.slice(0, 2000) }]);
        receiver.outcome = { kind: 'failed', error };
        receiver.secret.zero();
      }
      return undefined;
    }
    this.wire.push({ from, to, msg });
    if (receiver.outcome && !force) {
      receiver.unread.push(msg);
      return undefined;
    }
    receiver.received.push(msg);
    const step = this.complete(receiver, receiver.machine.receive(msg));
    this.apply(receiver, step, force);
    return step;
  }

  /** The node's driver runs requested multiplications on its worker pool; here they run at once, in order. */
  private complete(p: Party, step: Step): Step {
    return completeBlinds(p.machine, step, this.group, p.secret);
  }

  private apply(p: Party, step: Step, force = false): void {
    p.steps.push(step);
    if (p.outcome && !force) return;
    this.queueFrom(p, step.send);
    if (step.aggregate) {
      const machine = p.machine;
      if (!(machine instanceof AggregatorSession)) throw new Error('aggregate request from the partner');
      p.matchedIndices = step.aggregate;
      const honest = aggregateMatched(p.plan.aggregator, p.plan, step.aggregate.map((i) => p.keys[i]!), this.options.data);
      const given = this.options.aggregates ? this.options.aggregates(honest) : honest;
      p.aggregatesGiven = given;
      this.apply(p, machine.aggregates(given));
    }
    if (step.outcome && !p.outcome) p.outcome = step.outcome;
  }

  private queueFrom(p: Party, msgs: readonly SessionMessage[]): void {
    for (const m of msgs) {
      p.sent.push(m);
      this.queues[p.role].push(m);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers for tests
// ---------------------------------------------------------------------------------------------------------

export async function runScenario(options: ScenarioOptions): Promise<Scenario> {
  return (await Scenario.create(options)).run();
}

export function failure(p: Party): CleanroomError {
  if (p.outcome?.kind !== 'failed') throw new Error(`${p.role} (${p.member}) did not fail: ${JSON.stringify(p.outcome, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return p.outcome.error;
}

/** A short description of a message: type, and stage for points/points-end/open. */
export function kindOf(m: SessionMessage): string {
  return 'stage' in m ? `${m.type}:${m.stage}` : m.type;
}

export function kinds(ms: readonly SessionMessage[]): string[] {
  return ms.map(kindOf);
}

/** All backends usable here (noble always; sodium when its binary loads). */
export function backendNames(): ('noble' | 'sodium')[] {
  const names: ('noble' | 'sodium')[] = ['noble'];
  try {
    selectBackend('sodium');
    names.push('sodium');
  } catch {
    // no native binary on this machine
  }
  return names;
}

export const COUNT_SQL = 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email';
export const AGG_SQL = 'SELECT a.category, COUNT(*), SUM(a.amount), AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';

/** Every message as the frame bytes that would be sealed and sent. */
export function encodeAll(ms: readonly SessionMessage[]): Uint8Array[] {
  return ms.map((m) => encodeFrame(m));
}
