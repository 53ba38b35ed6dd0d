/**
 * Every limit the node enforces, each with the reason for its value. A peer that exceeds one is
 * cut off with LIMIT_EXCEEDED; a local table that exceeds one is refused with DATA_INVALID.
 */

/** Keys per PSI batch: 4096 x 32 B = 128 KiB per frame, large enough to amortise framing, small enough to interleave. */
export const PSI_BATCH_KEYS = 4096;

/**
 * The largest plaintext frame a peer may send. A PSI batch is 128 KiB; the largest frame is the share matrix of
 * MAX_GROUPS groups at the widest vector (MAX_GROUPS x MAX_GROUP_WIDTH x 16 B = 2.9 MB).
 */
export const MAX_FRAME_BYTES = 4 << 20;

/** Rows per table. Bounds every SUM (rows x largest declared value) so the 2^128 share ring never wraps. */
export const MAX_TABLE_ROWS = 2n ** 40n;

/** Distinct join keys one side may bring to a query: 2^26 (67M) keys x 32 B stays within a node's memory. */
export const MAX_QUERY_KEYS = 1 << 26;

/** Output groups of one query: far past any report a person reads, and their share matrix fits one frame. */
export const MAX_GROUPS = 10_000;

/** LIMIT and OFFSET of a query: a result never holds more rows than MAX_GROUPS, so a larger count would mean nothing. */
export const MAX_LIMIT = MAX_GROUPS;

/** Characters of one group label (a dimension value) sent to receivers; a longer value fails the query before anything opens. */
export const MAX_LABEL_CHARS = 1000;

/**
 * Label combinations of the partner's GROUP BY dimensions in one query (SPEC §4.6): the partner raises the
 * aggregator's whole key set once per combination, so the PSI costs up to this many times a plain one.
 */
export const MAX_PARTNER_GROUPS = 32;

/**
 * Join key columns one table may declare (SPEC §4.7): a person is matched on an email, a phone, a customer number, or
 * a compound of them; each alternative of a query's OR is one more PSI set per row.
 */
export const MAX_JOIN_KEYS = 4;

/**
 * How often the keys of an own table in PostgreSQL are hashed again ahead of queries by default (`databaseHashRefreshMs`
 * in config.json): a database gives no cheap sign of change, and each pass reads the table's key columns.
 */
export const HASH_CACHE_DATABASE_REFRESH_MS = 5 * 60_000;

/** How often the node looks whether an own table's file changed, to hash its new keys before a query needs them. */
export const HASH_CACHE_CHECK_MS = 10_000;

/** Tables (each of a different member) one query may join: every set is blinded once by every member. */
export const MAX_QUERY_TABLES = 8;

/** GROUP BY columns of one query. */
export const MAX_GROUP_BY_COLUMNS = 16;

/**
 * WHEN branches of one CASE dimension: each is a label of the group domain under a privacy policy, and each condition
 * is evaluated on every row; a bucketing of a value rarely needs more than a few dozen.
 */
export const MAX_CASE_BRANCHES = 100;

/**
 * Distinct columns one query may sum, average or count (COUNT(t.c)): bounds the width of a group's share vector (a
 * summed column takes two slots, a column only counted one).
 */
export const MAX_SUM_COLUMNS = 8;

/**
 * The narrowest and widest per-group vector (src/query/group-vector.ts, which checks them against its layout): the
 * bounds of a share vector's width on the wire.
 */
export const MIN_GROUP_WIDTH = 2;
export const MAX_GROUP_WIDTH = 2 + 2 * MAX_SUM_COLUMNS;

/** Handshake must finish quickly: it is two round trips and two signatures. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Waiting for the peer to accept or reject a proposal: it checks rules and opens its tables. */
export const PROPOSAL_TIMEOUT_MS = 60_000;

/**
 * The longest a query session may go without a message from any peer or any local progress. Batches flow
 * continuously during PSI, so two minutes without either means a member is gone or stuck; the query is aborted and
 * nothing is revealed. Measured per session, not per link: in a join of several, some links are quiet by design.
 */
export const STAGE_IDLE_TIMEOUT_MS = 120_000;

/**
 * How often a member that makes local progress without sending anything says so (`keepalive`): half the smallest
 * silence limit a node may configure (1 s), so that no peer cuts off a member that works: a node hashing the keys
 * its cache lacks before its first batch, a partner holding a set in parts or a federated join's until it is blinded
 * whole (SPEC §4.2 step 1), minutes at 10M keys, during which its peer hears nothing else.
 */
export const KEEPALIVE_MS = 500;

/** Buffered outbound bytes above which a sender waits for the socket to drain (backpressure). */
export const SEND_HIGH_WATER_BYTES = 4 << 20;

/**
 * SQL text accepted from a querier or a peer's proposal, in UTF-16 code units. The subset's queries are a few
 * hundred characters; the bound keeps a peer or a user from making us parse and walk megabytes.
 */
export const MAX_SQL_LENGTH = 10_000;

/**
 * Predicates in one WHERE (an IN list counts once). The owner evaluates every one on every row of its table, in
 * DuckDB and, pushed down, in PostgreSQL; a hundred is past any condition a person writes (many values are one IN).
 */
export const MAX_WHERE_PREDICATES = 100;

/**
 * Levels of nesting in one WHERE: AND and OR (once NOT is pushed inward and an AND directly inside an AND merged) and
 * lower/upper/trim around a column. Every level is a recursion in the planner, in the SQL each owner builds and in
 * DuckDB's and PostgreSQL's parsers; ten is past any condition written by hand.
 */
export const MAX_WHERE_DEPTH = 10;

/**
 * Decimal places of AVG, VAR_* and STDDEV_* in results: exact rationals (a standard deviation the exact square root
 * of one), reported rounded half away from zero.
 */
export const AVG_DECIMALS = 6;

/**
 * The largest scale of an aggregate's expression (SPEC §5): a product's scale is the sum of its factors', so two
 * decimal columns (scale 9 at most each) multiply to 18. A third decimal factor would put sums in units of 10^-27 and
 * sums of squares in 10^-54, past any digit a report shows; that product is refused, not rounded.
 */
export const MAX_EXPRESSION_SCALE = 18;

/**
 * Nodes of one aggregate's expression: columns, constants, operators, CASE branches, and the predicates of CASE
 * conditions. Each is SQL every aggregating member runs on every row, and a plan-time interval the planner walks;
 * sixty-four is past any formula written by hand (a price times a quantity, minus a discount, by a few CASEs).
 */
export const MAX_EXPRESSION_NODES = 64;

/**
 * Levels of nesting in one aggregate's expression (operators, CASE, and the AND/OR of a CASE's conditions): each is
 * a recursion in the parser, the planner, the SQL and DuckDB's own parser, as MAX_WHERE_DEPTH bounds them for WHERE.
 */
export const MAX_EXPRESSION_DEPTH = 10;

/** Characters of a peer's abort or refusal text kept in this node's errors and log: a reason, not a document. */
export const MAX_PEER_TEXT_CHARS = 300;

/** Bytes of one request to the local control interface: a query is `{"sql": ...}` of at most MAX_SQL_LENGTH characters. */
export const MAX_CONTROL_BODY_BYTES = 64 * 1024;

/**
 * Queries this node's own users run at once; more wait in line. PSI is bound by the cores (two here) and DuckDB's
 * memory cap is shared, so more at once only divides the same machine while holding more state in memory.
 */
export const MAX_CONCURRENT_QUERIES = 4;

/**
 * Queries proposed by peers that this node takes part in at once; more are refused with LIMIT_EXCEEDED. Room for
 * every other member of a collaboration of several to run its own limit of queries here, and a bound on memory.
 */
export const MAX_CONCURRENT_PEER_QUERIES = 16;

/**
 * Of those, the queries one member may have proposed: twice what an honest node proposes at once
 * (MAX_CONCURRENT_QUERIES), and half the total, so that one member, or an insider holding its key, cannot lock
 * the other members out.
 */
export const MAX_CONCURRENT_QUERIES_PER_PEER = 8;

/**
 * Bytes a peer may send on its WebSocket before its signature verifies. Its hello and auth frames together are
 * under 300 bytes; counting raw bytes means a frame that declares megabytes is cut off, never buffered.
 */
export const PREAUTH_MAX_BYTES = 4096;

/** Header bytes of the HTTP request that opens a peer's WebSocket: a client sends about 200, proxies add some. */
export const MAX_UPGRADE_HEADER_BYTES = 8192;

/**
 * Anonymous connections: from TCP accept until a hello names a manifest member and the manifest hash; beyond this a
 * new one closes the oldest of the source holding the most (src/transport/preauth-pool.ts). A member's hello follows
 * its connect within milliseconds, so this is room for many members dialling at once; each such connection costs at
 * most its headers, PREAUTH_MAX_BYTES and one socket read for HANDSHAKE_TIMEOUT_MS, so a flood cannot bloat the node.
 */
export const MAX_UNAUTHENTICATED_CONNECTIONS = 64;

/**
 * Connections whose hello claimed one member, waiting for its auth; a hello beyond this is refused, and none of them
 * is ever closed to make room, so a flood cannot abort a member's handshake. A member's node dials this one for at
 * most MAX_CONCURRENT_QUERIES own queries and a few joins at once, each in its handshake for milliseconds: twice
 * MAX_CLAIMED_HANDSHAKES_PER_SOURCE, so that a member keeps that many places while one other source holds its share.
 */
export const MAX_CLAIMED_HANDSHAKES_PER_MEMBER = 32;

/** Of those, claiming one member from one source (an IPv4 address or an IPv6 /64): a burst of one member's dials fits. */
export const MAX_CLAIMED_HANDSHAKES_PER_SOURCE = 16;

/**
 * `join` connections of one member waiting for a query this node has not accepted yet (each for
 * PROPOSAL_TIMEOUT_MS at most); more from that member are aborted at once. A member joins each query once, and
 * only while its proposal is being checked here, so a few are waiting at a time.
 */
export const MAX_PARKED_JOINS_PER_MEMBER = 16;

/**
 * Authenticated connections of one member that have not sent their first message yet (src/node/idle-connections.ts):
 * a member sends its proposal or join as soon as its channel is open, so a few are idle at a time; beyond this the
 * oldest idle one is closed. Keeps a member with a real key from holding the node's file descriptors (thousands of
 * idle connections) while leaving room for every query and join the other limits allow.
 */
export const MAX_IDLE_CONNECTIONS_PER_MEMBER = 32;

/**
 * Bytes of one CSV line (one record). A row of a clean-room table is a handful of fields; a longer line is a broken
 * file (a runaway quote, a binary blob), and the bound keeps the reader's buffers small whatever the file holds.
 */
export const MAX_CSV_LINE_BYTES = 1 << 20;

/** Problems of a table listed in one refusal or check report; the rest are counted ("and N more"). */
export const MAX_REPORTED_PROBLEMS = 20;

/**
 * Malformed CSV lines DuckDB keeps while checking a file (each kept with its text): past this many the count is a
 * lower bound, which is all an operator needs to know about a file that broken.
 */
export const MAX_KEPT_MALFORMED_LINES = 1000;

/** Characters of a bad value quoted in an error for the node's own operator: enough to recognise it. */
export const MAX_QUOTED_VALUE_CHARS = 60;

/** Rows per round trip when a table is read from PostgreSQL: a few MB in flight, however large the table. */
export const POSTGRES_FETCH_ROWS = 10_000;

/** A database that does not answer a connection in this time is reported unreachable rather than waited on. */
export const POSTGRES_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The longest one statement, one fetch of POSTGRES_FETCH_ROWS rows, or one wait for a lock may take on a member's
 * database: a live server answers in far less, and a hung one must fail the query rather than hold it forever.
 */
export const POSTGRES_STATEMENT_TIMEOUT_MS = 60_000;

/**
 * Files of the hash cache (one per batch of newly hashed keys) before they are merged into one: a lookup reads
 * every file, so a few keep it one scan; merging rewrites the cache, so it waits for several.
 */
export const MAX_HASH_CACHE_SEGMENTS = 8;

/**
 * Containers nested in one frame. The deepest message is `labels`: its map, the list of groups, a group's labels;
 * deeper nesting is refused before decoding, where each level could make the decoder allocate what it declares.
 */
export const MAX_FRAME_DEPTH = 3;

/** Containers (maps and arrays) in one frame: `labels` has its map, its list and one list per group. */
export const MAX_FRAME_CONTAINERS = MAX_GROUPS + 2;

/**
 * Inbound bytes a connection keeps for messages nobody has asked for yet; beyond it the socket is no longer read
 * and TCP makes the sender wait. Two of the largest frames: one can wait while the next arrives.
 */
export const INBOUND_HIGH_WATER_BYTES = 2 * MAX_FRAME_BYTES;

/**
 * Points a member adds to one stream under a privacy policy (a count-only query's dummy slots, or the most padding of
 * a key set). Each dummy slot costs two multiplications on the node's main thread and each padding point one on its
 * worker pool, so a very small ε would stall a query: 16,384 take well under a second with libsodium, and ε of 0.1 or
 * more keeps common queries far below.
 */
export const MAX_ADDED_POINTS = 16_384;

/**
 * How long a console login link (`cleanroom console <dir>`) may wait to be opened. It works once; a short life keeps
 * one left in a terminal's scrollback or a browser's history from opening the console later.
 */
export const CONSOLE_LOGIN_CODE_TTL_MS = 120_000;

/** Login links not yet opened that a node keeps at once; a new one beyond it drops the oldest. */
export const MAX_CONSOLE_LOGIN_CODES = 8;

/**
 * How long a console session lasts (a working day). Its id lives in one tab's sessionStorage and travels only in an
 * Authorization header the page sets, never in a cookie; a bounded life still limits what one copied from that tab
 * (its developer tools, a screen share) is good for.
 */
export const CONSOLE_SESSION_TTL_MS = 8 * 3600_000;

/** Console sessions a node keeps at once (browsers, tabs that logged in anew); a new one beyond it ends the oldest. */
export const MAX_CONSOLE_SESSIONS = 16;

/** Past queries the console's History lists, newest first: the audit log grows without end, one page does not. */
export const MAX_CONSOLE_HISTORY = 500;

/** How long the console waits for a peer's endpoint to accept a TCP connection before it calls the peer unreachable. */
export const PEER_PROBE_TIMEOUT_MS = 1_500;

/**
 * How long `cleanroom stop` lets the queries running on a node finish: the node takes no new query from then on, and
 * one still running at the end is aborted with the node (every member's side of it fails, and a result not yet
 * opened is opened to nobody). Long enough for a typical query; a stuck one cannot hold the stop for ever.
 */
export const STOP_GRACE_MS = 30_000;

/** How long `cleanroom stop` waits for the node to exit beyond the grace it reported: time to close its files and workers. */
export const STOP_CLOSE_WAIT_MS = 15_000;

/**
 * How often a running query reports its progress to whoever asked it (the CLI, the console): a change of step is
 * reported at once, counts at most this often, so a PSI of millions of keys sends a few events a second, not one per batch.
 */
export const PROGRESS_INTERVAL_MS = 500;

/** A step's rate is measured over at least this long before its time left is estimated: a shorter span says little. */
export const PROGRESS_MIN_RATE_MS = 2_000;

/** A query shorter than this shows no progress in the CLI: only one that takes long enough to wonder about does. */
export const PROGRESS_QUIET_MS = 1_000;

/**
 * How long `cleanroom query` waits, after its first Ctrl-C asked the node to cancel, for the node to report the query
 * aborted: the abort is one message to each peer and an audit entry, so this is ample; a second Ctrl-C exits at once.
 */
export const CANCEL_WAIT_MS = 10_000;

/** How often `cleanroom stop` asks whether the node's control port has closed. */
export const STOP_POLL_INTERVAL_MS = 100;

/**
 * How often a running node looks at its manifest file for a new version (a stat, by fs.watchFile): a signed
 * version copied in is live within about this long, without a restart, and an idle node does no more than one
 * stat per interval. Polling rather than fs.watch: an editor's or cp's rename replaces the file a watch is on.
 */
export const MANIFEST_POLL_MS = 1_000;
