/**
 * The JSON the console's pages read from the control interface (GET /api/...), shared with the front end in web/:
 * types only, so the browser bundle takes nothing else from the node.
 */

/** What `cleanroom query --preview` reports: no cryptography runs and nothing is charged. */
export interface Preview {
  readonly mode: 'count-only' | 'aggregate' | 'federated';
  readonly dp: boolean;
  readonly epsilon?: string;
  readonly delta?: string;
  /** The noise every holder adds: `discrete Laplace noise (ε adds up)` or `discrete Gaussian noise (zCDP: ρ adds up)`. */
  readonly noise?: string;
  /** Per table with a policy: what the query costs it (`ε = 1`, `ρ = 0.0152`), its budget in the same unit. */
  readonly charges: readonly { table: string; owners: readonly string[]; cost: string; budget: string; refresh: string; remaining?: string }[];
  /** A group is released when its noisy count reaches this (exact distinct-key count without DP). */
  readonly threshold: string;
  /** Per output aggregate, the half-width of its 95% error bound (AVG: of its sum and its count). */
  readonly errors: readonly { output: string; bound: string }[];
  /** Outputs whose noise would outweigh their values, each in one line with what would help (src/query/noise-warnings.ts). */
  readonly warnings: readonly NoiseWarningView[];
}

/** A DP output whose 95% error exceeds what its value could plausibly be: in the preview, and in a result's `warnings`. */
export interface NoiseWarningView {
  readonly code: 'NOISE_WIDER_THAN_VALUE' | 'NOISE_WIDER_THAN_RANGE';
  readonly output: string;
  readonly message: string;
}

export interface CollaborationView {
  readonly collaborationId: string;
  readonly name: string;
  readonly version: number;
  /** The manifest's canonical hash (hex), the one every member signed. */
  readonly hash: string;
  readonly self: string;
  /** Members whose signature of this manifest checks out; the node runs only a manifest every member signed. */
  readonly signedBy: readonly string[];
  /** False when the manifest file in the node directory no longer is the one the node started with. */
  readonly fileMatches: boolean;
  /** A newer version in the manifest file that the node does not run yet (partly signed, say), and why. */
  readonly pending?: PendingManifestView;
  readonly members: readonly MemberView[];
}

export interface PendingManifestView {
  readonly file: string;
  readonly version: number;
  readonly hash: string;
  /** Members whose signature of the pending version verifies, and those still to sign. */
  readonly signedBy: readonly string[];
  readonly missing: readonly string[];
  /** Why the node does not run it, in words. */
  readonly problem: string;
}

export interface MemberView {
  readonly id: string;
  readonly name: string;
  readonly endpoint: string;
  readonly self: boolean;
  readonly querier: boolean;
  readonly receiver: boolean;
  /** Whether the member's peer endpoint accepted a connection just now; this node itself is always reachable. */
  readonly reachable: boolean;
  /** Why not, in words (refused, timed out, name not found). */
  readonly problem?: string;
}

export interface ColumnView {
  readonly name: string;
  readonly type: string;
  /** Bounds, scale, declared values, or that it is the join key. */
  readonly detail: string;
}

export interface BudgetView {
  /** ε under pure accounting, ρ under zCDP (SPEC §10.4). */
  readonly unit: 'ε' | 'ρ';
  /** The budget per period, in `unit`. */
  readonly budget: string;
  readonly spent: string;
  readonly remaining: string;
  /** What one query at the table's own ε costs it, in `unit`. */
  readonly perQuery: string;
  /** How many such queries `remaining` still buys: ⌊remaining / perQuery⌋. */
  readonly queriesLeft: number;
  /** The same in words, as `cleanroom budget` prints it. */
  readonly buys: string;
  readonly refresh: 'month' | 'never';
  /** ISO date of the next restore (the first of next month, UTC); absent for a budget that never refreshes. */
  readonly nextRefresh?: string;
}

export interface TableView {
  readonly name: string;
  readonly owner: string;
  /** Every member holding rows: the owner, or the holders of a federated table. */
  readonly holders: readonly string[];
  /** This node holds rows of it. */
  readonly own: boolean;
  readonly columns: readonly ColumnView[];
  /** The analysis rule in plain sentences. */
  readonly rules: readonly string[];
  /** The privacy policy in plain sentences, when the table has one. */
  readonly privacy?: readonly string[];
  /** This node's budget of its own table with a policy. */
  readonly budget?: BudgetView;
  /** This node's own table: where its rows are, and what a check of them against the manifest found just now. */
  readonly data?: TableDataView;
  /** This node's own table: how far the background hashing of each of its join keys is (src/node/cache-warmer.ts). */
  readonly hashCache?: readonly HashCacheView[];
}

/** One join key of an own table in the hash cache: waiting, hashing (so many of so many), ready, or failed. */
export interface HashCacheView {
  readonly key: string;
  readonly state: 'waiting' | 'hashing' | 'ready' | 'failed';
  readonly done: number;
  readonly total?: number;
}

/** An own table's source and its check (`cleanroom check`): the values are quoted, for this node's operator. */
export interface TableDataView {
  readonly table: string;
  readonly kind: 'file' | 'postgres';
  /** The file's path, or the database's address and relation. */
  readonly source: string;
  readonly format?: 'csv' | 'parquet';
  /** Data rows, when the source could be read. */
  readonly rows?: number;
  /** The first problems found, one line each (file, line, column, value, what is wrong). */
  readonly problems: readonly string[];
  /** All problems found; more than `problems` lists when there are many, a lower bound when `exact` is false. */
  readonly total: number;
  readonly exact: boolean;
  /** The file itself or a join key is broken: no query can use the table until it is fixed. */
  readonly unusable: boolean;
  readonly checkedAt: string;
  /** The check itself failed (not a problem in the rows): why. */
  readonly error?: string;
}

/** What the Query page's schema browser and example queries read (GET /api/schema): the manifest's rules, structured. */
export interface SchemaView {
  readonly self: string;
  readonly tables: readonly SchemaTableView[];
  /** Queries built from the manifest that the planner allows this member, each ready to load into the editor. */
  readonly examples: readonly ExampleQueryView[];
}

export interface SchemaTableView {
  readonly name: string;
  readonly owner: string;
  readonly holders: readonly string[];
  /** This node holds rows of it. */
  readonly own: boolean;
  /** The alias the examples give it, and what a column click inserts when the editor's FROM names no other. */
  readonly alias: string;
  readonly columns: readonly SchemaColumnView[];
  /** ε per query under the table's privacy policy, when it has one. */
  readonly epsilon?: number;
  readonly minDistinctKeys: number;
}

export interface SchemaColumnView {
  readonly name: string;
  readonly type: string;
  /** Bounds, scale, declared values (rules-text.ts describeColumn). */
  readonly detail: string;
  /** Its normalisation, when queries may join on it (JOIN … ON); a join key is never filtered or grouped. */
  readonly joinKey?: string;
  /** A dimension: WHERE and GROUP BY. */
  readonly dimension: boolean;
  /** Aggregations its rule allows: SUM, AVG, VARIANCE (COUNT(*) is always allowed, on every table). */
  readonly functions: readonly string[];
  /**
   * Members that may GROUP BY it as the partner's dimension (SPEC §4.6) when they aggregate a table of their own joined
   * with this one: those whose overlapDisclosure grant lists it among its filters.
   */
  readonly partnerDimensionFor: readonly string[];
}

export interface ExampleQueryView {
  readonly kind: 'count-only' | 'group-by' | 'partner-dimension';
  /** What it asks, in one line. */
  readonly title: string;
  readonly sql: string;
}

export type PlanView =
  | {
      readonly ok: true;
      readonly mode: Preview['mode'];
      readonly members: readonly string[];
      /** The result's columns in order: a group's label (dimension) or a value (aggregate). */
      readonly outputs: readonly { readonly name: string; readonly kind: 'dimension' | 'aggregate' }[];
      readonly preview: Preview;
    }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly rule?: string; readonly allowed?: string };

export interface HistoryEvent {
  readonly seq: number;
  readonly time: string;
  readonly event: string;
  readonly detail: string;
}

export interface HistoryItem {
  readonly queryId: string;
  /** When the node first recorded the query. */
  readonly time: string;
  readonly querier: string;
  readonly sql: string;
  /** The last event recorded: result, released, refused, failed, or accepted/proposed while it runs. */
  readonly status: string;
  /** The refusal's or failure's reason. */
  readonly reason?: string;
  readonly released?: { readonly groups: number; readonly receivers: readonly string[]; readonly columns: readonly string[] };
  readonly events: readonly HistoryEvent[];
  /** This node saved the result (it asked and receives results). */
  readonly hasResult: boolean;
  /** Under a privacy policy of some table of the query (noisy values, charged to each such table's budget). */
  readonly dp: boolean;
  /** What this node's ledger charged its own tables for the query (`ε = 2`, `ρ = 0.0152`); the others keep their own. */
  readonly charged: readonly { readonly table: string; readonly cost: string }[];
  /** The manifest version the query was checked against, when its entries record it (nodes before it did not). */
  readonly manifestVersion?: number;
  /** From its first entry to its last: proposal to result, release, refusal or failure. */
  readonly durationMs: number;
}

export interface HistoryView {
  readonly self: string;
  /** Newest first, at most MAX_CONSOLE_HISTORY. */
  readonly items: readonly HistoryItem[];
  /** Queries older than those listed. */
  readonly omitted: number;
  readonly audit: { readonly ok: true; readonly entries: number; readonly head: string } | { readonly ok: false; readonly line: number; readonly problem: string };
}
