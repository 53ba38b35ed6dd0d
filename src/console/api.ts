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
  readonly members: readonly MemberView[];
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
}

export interface HistoryView {
  readonly self: string;
  /** Newest first, at most MAX_CONSOLE_HISTORY. */
  readonly items: readonly HistoryItem[];
  /** Queries older than those listed. */
  readonly omitted: number;
  readonly audit: { readonly ok: true; readonly entries: number; readonly head: string } | { readonly ok: false; readonly line: number; readonly problem: string };
}
