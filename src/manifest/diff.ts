import { joinKeysOf, type Column, type Manifest, type PrivacyPolicy, type Table } from './schema.js';

/**
 * What changes from one manifest to the next, in words, one line per change: what every member reads before signing
 * a new version (`cleanroom manifest diff`, `propose`) and what a node logs when it loads one. Lines name the table
 * and say what the change allows or takes away; nothing here decides anything.
 */
export function manifestDiff(before: Manifest, after: Manifest): string[] {
  const out: string[] = [];
  if (before.collaborationId !== after.collaborationId) out.push(`collaboration id ${before.collaborationId} → ${after.collaborationId}`);
  if (before.name !== after.name) out.push(`name ${JSON.stringify(before.name)} → ${JSON.stringify(after.name)}`);
  if (before.version !== after.version) out.push(`version ${before.version} → ${after.version}`);
  out.push(...membersDiff(before, after));
  out.push(...roleDiff('may query', before.queriers, after.queriers));
  out.push(...roleDiff('receives results', before.receivers, after.receivers));
  if (Boolean(before.verify) !== Boolean(after.verify)) {
    out.push(after.verify ? 'verify on: the partner proves every point it returns in a two-party aggregate query (SPEC §4.2.1)' : 'verify off: returned points are no longer proven');
  }
  const old = new Map(before.tables.map((t) => [t.name, t]));
  const now = new Map(after.tables.map((t) => [t.name, t]));
  for (const t of after.tables) if (!old.has(t.name)) out.push(`table ${t.name} added (owner ${t.owner}; columns ${t.columns.map((c) => c.name).join(', ')}${t.rules.privacy ? '; with a privacy policy' : ''})`);
  for (const t of before.tables) if (!now.has(t.name)) out.push(`table ${t.name} removed`);
  for (const t of after.tables) {
    const o = old.get(t.name);
    if (o) out.push(...tableDiff(o, t).map((line) => `${t.name}: ${line}`));
  }
  return out;
}

function membersDiff(before: Manifest, after: Manifest): string[] {
  const out: string[] = [];
  const old = new Map(before.members.map((m) => [m.id, m]));
  const ids = new Set(after.members.map((m) => m.id));
  for (const m of after.members) {
    const o = old.get(m.id);
    if (!o) {
      out.push(`member ${m.id} (${m.name}) added at ${m.endpoint}`);
      continue;
    }
    if (o.name !== m.name) out.push(`member ${m.id}: name ${JSON.stringify(o.name)} → ${JSON.stringify(m.name)}`);
    if (o.endpoint !== m.endpoint) out.push(`member ${m.id}: endpoint ${o.endpoint} → ${m.endpoint}`);
    // A new key is a new identity for the member: worth its own line.
    if (o.publicKey !== m.publicKey) out.push(`member ${m.id}: public key ${o.publicKey.slice(0, 16)}… → ${m.publicKey.slice(0, 16)}…`);
  }
  for (const m of before.members) if (!ids.has(m.id)) out.push(`member ${m.id} (${m.name}) removed`);
  return out;
}

function roleDiff(role: string, before: readonly string[], after: readonly string[]): string[] {
  return [...after.filter((id) => !before.includes(id)).map((id) => `${id} now ${role}`), ...before.filter((id) => !after.includes(id)).map((id) => `${id} no longer ${role}`)];
}

function tableDiff(o: Table, t: Table): string[] {
  const out: string[] = [];
  if (o.owner !== t.owner) out.push(`owner ${o.owner} → ${t.owner}`);
  const holders = (x: Table) => (x.holders ?? []).join(', ') || 'none (not federated)';
  if (holders(o) !== holders(t)) out.push(`holders ${holders(o)} → ${holders(t)}`);
  out.push(...columnsDiff(o.columns, t.columns));
  const keyText = (k: { column: string; normalization: string }) => `${k.column} (${k.normalization})`;
  const oldKeys = joinKeysOf(o).map(keyText);
  const newKeys = joinKeysOf(t).map(keyText);
  if (oldKeys.join(', ') !== newKeys.join(', ')) out.push(`join keys ${oldKeys.join(', ')} → ${newKeys.join(', ')}`);
  const r0 = o.rules;
  const r1 = t.rules;
  for (const d of r1.dimensions) if (!r0.dimensions.includes(d)) out.push(`dimension ${d} allowed (WHERE, GROUP BY)`);
  for (const d of r0.dimensions) if (!r1.dimensions.includes(d)) out.push(`dimension ${d} no longer allowed`);
  const fns = (rules: Table['rules']) => new Set(rules.aggregations.flatMap((a) => a.functions.map((f) => `${f.toUpperCase()}(${a.column})`)));
  const [a0, a1] = [fns(r0), fns(r1)];
  for (const f of a1) if (!a0.has(f)) out.push(`${f} allowed`);
  for (const f of a0) if (!a1.has(f)) out.push(`${f} no longer allowed`);
  if (r0.minDistinctKeys !== r1.minDistinctKeys) out.push(`minDistinctKeys ${r0.minDistinctKeys} → ${r1.minDistinctKeys}`);
  out.push(...grantsDiff(o, t));
  out.push(...privacyDiff(r0.privacy, r1.privacy));
  return out;
}

function columnsDiff(before: readonly Column[], after: readonly Column[]): string[] {
  const out: string[] = [];
  const old = new Map(before.map((c) => [c.name, c]));
  const names = new Set(after.map((c) => c.name));
  for (const c of after) {
    const o = old.get(c.name);
    if (!o) out.push(`column ${c.name} (${c.type}) added`);
    else if (JSON.stringify(o) !== JSON.stringify(c)) out.push(`column ${c.name}: ${fieldsDiff(o, c)}`);
  }
  for (const c of before) if (!names.has(c.name)) out.push(`column ${c.name} removed`);
  return out;
}

/** The fields of two objects that differ: `max 100 → 200, required (none) → true`. */
function fieldsDiff(o: object, n: object): string {
  const a = o as Record<string, unknown>;
  const b = n as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const text = (v: unknown) => (v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));
  return keys
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k} ${text(a[k])} → ${text(b[k])}`)
    .join(', ');
}

function grantsDiff(o: Table, t: Table): string[] {
  const grants = (x: Table) => new Map(x.rules.overlapDisclosure.map((g) => (typeof g === 'string' ? [g, [] as string[]] : [g.member, g.filters])));
  const [g0, g1] = [grants(o), grants(t)];
  const filters = (f: readonly string[]) => (f.length === 0 ? 'unfiltered' : `filtered by ${f.join(', ')}`);
  const out: string[] = [];
  for (const [member, f] of g1) {
    const before = g0.get(member);
    if (!before) out.push(`${member} may learn which of its keys are here (${filters(f)})`);
    else if (before.join(',') !== f.join(',')) out.push(`${member}'s overlap grant: ${filters(before)} → ${filters(f)}`);
  }
  for (const member of g0.keys()) if (!g1.has(member)) out.push(`${member} may no longer learn which of its keys are here`);
  return out;
}

function privacyDiff(o: PrivacyPolicy | undefined, p: PrivacyPolicy | undefined): string[] {
  if (!o && !p) return [];
  if (!o) return [`privacy policy added: ${policyText(p!)}; every query on it becomes differentially private`];
  if (!p) return ['privacy policy removed: queries on it are exact again'];
  const a = policyText(o);
  const b = policyText(p);
  return a === b ? [] : [`privacy policy ${a} → ${b}`];
}

function policyText(p: PrivacyPolicy): string {
  return `ε ${p.epsilon}, δ ${p.delta} per query, at most ${p.maxRowsPerKey} row(s) per key, budget ε ${p.budget.epsilon} (refresh: ${p.budget.refresh})${p.accounting ? `, ${p.accounting} accounting` : ''}`;
}
