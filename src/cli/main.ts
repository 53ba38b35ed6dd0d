#!/usr/bin/env node
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stat } from 'node:fs/promises';
import { CleanroomError, asCleanroomError, errorMessage, oneLine } from '../errors.js';
import { manifestHash } from '../manifest/canonical.js';
import { parseSignedManifest, signManifest, unsignedMembers } from '../manifest/signature.js';
import { z } from 'zod';
import { NodeConfigSchema, loadConfig, type NodeConfigFile } from '../config/node-config.js';
import { consoleLoginLink, controlEndpoint, matchReport, nodeStatus, requestStop, waitForExit } from '../control/control-client.js';
import { generateIdentity, hex, readIdentity, writeIdentity } from '../manifest/identity.js';
import { CleanroomNode } from '../node/node.js';
import { loadNodeSetup } from '../node/node-setup.js';
import { checkTables } from '../node/table-check.js';
import { TableStore } from '../data/table-store.js';
import { DEFAULT_AUDIT_FILE } from '../audit/audit-log.js';
import { CONTROL_TOKEN_FILE } from '../control/control-token.js';
import { ask } from './ask.js';
import { manifestWorkflow } from './manifest-workflow.js';
import { COMMANDS, commandHelp, usageText } from './help.js';
import { auditCommand } from './audit.js';
import { budgetCommand } from './budget.js';
import { matchLines } from '../node/match-report.js';
import { preview } from '../console/preview.js';
import { formatResult } from './table.js';
import { DEFAULT_BUDGET_FILE } from '../budget/ledger.js';
import { parseQuery } from '../query/parse.js';
import { planQuery } from '../query/plan.js';
import { STOP_CLOSE_WAIT_MS, STOP_GRACE_MS } from '../limits.js';


async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const help = command !== undefined ? COMMANDS[command] : undefined;
  if (help && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(commandHelp(help));
    return 0;
  }
  switch (command) {
    case 'init':
      return init(rest);
    case 'manifest':
      return manifest(rest);
    case 'check':
      return check(rest);
    case 'start':
      return start(rest);
    case 'query':
      return query(rest);
    case 'audit':
      return audit(rest);
    case 'budget':
      return budget(rest);
    case 'match':
      return match(rest);
    case 'console':
      return consoleLink(rest);
    case 'status':
      return status(rest);
    case 'stop':
      return stop(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usageText());
      return command === undefined ? 2 : 0;
    case '--version':
      process.stdout.write(`${await version()}\n`);
      return 0;
    default:
      throw new CleanroomError('CONFIG_INVALID', `unknown command ${command}; see cleanroom --help`);
  }
}

async function init(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { member: { type: 'string' }, name: { type: 'string' }, listen: { type: 'string' }, control: { type: 'string' }, endpoint: { type: 'string' } },
  });
  const dir = positionals[0];
  if (!dir || !values.member || !values.name || !values.listen || !values.control) throw usage('init needs <dir> --member --name --listen --control');
  const [host, port] = splitHostPort(values.listen);
  const config: NodeConfigFile = {
    memberId: values.member,
    identityFile: 'identity.json',
    manifestFile: 'manifest.json',
    listen: { host, port },
    control: { host: '127.0.0.1', port: Number(values.control) },
    tables: {},
    backend: 'auto',
    workers: 'auto',
    cacheDir: 'cache',
    resultsDir: 'results',
  };
  // What init writes must be a config that start accepts: a bad port or member id fails here, not at start.
  const checked = NodeConfigSchema.safeParse(config);
  if (!checked.success) throw new CleanroomError('CONFIG_INVALID', `init: ${z.prettifyError(checked.error).replaceAll('\n', '; ')}`);
  await mkdir(dir, { recursive: true });
  for (const file of ['identity.json', 'config.json']) {
    if (await exists(join(dir, file))) throw new CleanroomError('CONFIG_INVALID', `${join(dir, file)} already exists: ${dir} is a node already; init a new node in an empty directory`);
  }
  const id = generateIdentity(values.member);
  await writeIdentity(join(dir, 'identity.json'), id);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n', { flag: 'wx' });
  // The identity's private key and the control token never belong in a repository, should the directory be in one.
  if (!(await exists(join(dir, '.gitignore')))) await writeFile(join(dir, '.gitignore'), `identity.json\n${CONTROL_TOKEN_FILE}\n`);
  const member = { id: values.member, name: values.name, endpoint: values.endpoint ?? `ws://${values.listen}`, publicKey: hex(id.publicKey) };
  process.stdout.write(JSON.stringify(member, null, 2) + '\n');
  process.stderr.write(`created ${join(dir, 'identity.json')} and ${join(dir, 'config.json')}; map your tables to files in config.json, then sign the manifest\n`);
  return 0;
}

async function manifest(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { node: { type: 'string' }, from: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const [sub, file] = positionals;
  if (sub === 'propose' || sub === 'diff' || sub === 'status') return manifestWorkflow(sub, positionals.slice(1), values, (line) => process.stdout.write(line + '\n'));
  if (!file) throw usage('manifest hash|sign|verify|status <file> | manifest propose <edited> --from <current> | manifest diff <old> <new>');
  const doc = JSON.parse(await readFile(file, 'utf8')) as unknown;
  switch (sub) {
    case 'hash':
      process.stdout.write(Buffer.from(manifestHash(parseSignedManifest(doc, false).manifest)).toString('hex') + '\n');
      return 0;
    case 'sign': {
      if (!values.node) throw usage('manifest sign <file> --node <dir>');
      const cfg = await loadConfig(join(values.node, 'config.json'));
      const id = await readIdentity(cfg.path(cfg.config.identityFile));
      const signed = parseSignedManifest(doc, false);
      signed.signatures[id.memberId] = signManifest(signed.manifest, id.memberId, id.secretKey);
      await writeFile(file, JSON.stringify(signed, null, 2) + '\n');
      const missing = unsignedMembers(signed);
      process.stdout.write(`signed by ${id.memberId}; ${missing.length === 0 ? 'all members have signed' : `still to sign: ${missing.join(', ')}`}\n`);
      return 0;
    }
    case 'verify': {
      const signed = parseSignedManifest(doc, false);
      const missing = unsignedMembers(signed);
      process.stdout.write(`manifest ${signed.manifest.collaborationId} v${signed.manifest.version}, hash ${Buffer.from(manifestHash(signed.manifest)).toString('hex')}\n`);
      if (missing.length > 0) throw new CleanroomError('MANIFEST_UNSIGNED', `missing or invalid signature of ${missing.join(', ')}`);
      process.stdout.write('signed by every member\n');
      return 0;
    }
    default:
      throw usage('manifest hash|sign|verify <file>');
  }
}

async function start(args: string[]): Promise<number> {
  const dir = args[0];
  if (!dir) throw usage('start <dir>');
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString()}] ${oneLine(line)}\n`);
  // A log pipe whose reader is gone (EPIPE) must not become an uncaught error that the guard below logs to the same
  // pipe, failing again, in a loop that spins a core: the node serves on without its log.
  process.stderr.on('error', () => {});
  // One connection's or one query's failure must never take the node down: the guard logs it and the node serves on.
  process.on('uncaughtException', (err) => log(`internal error (the node keeps running): ${errorMessage(err)}`));
  process.on('unhandledRejection', (err) => log(`internal error (the node keeps running): ${errorMessage(err)}`));
  const node = await CleanroomNode.open(join(dir, 'config.json'), log);
  await node.listen();
  const signalled = new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // A signal stops at once (running queries are aborted); `cleanroom stop` lets them finish first, within
  // STOP_GRACE_MS, and a signal during that wait cuts it short.
  const asked = await Promise.race([signalled.then(() => false), node.stopRequested.then(() => true)]);
  if (asked) await node.stop(STOP_GRACE_MS, signalled);
  else await node.close();
  return 0;
}

/** What `start` checks first, without starting anything: every problem of every own table, then exit 0 or 1. */
async function check(args: string[]): Promise<number> {
  const dir = args[0];
  if (!dir) throw usage('check <dir>');
  const { cfg, ownTables } = await loadNodeSetup(join(dir, 'config.json'));
  const store = await TableStore.open(cfg.tables, cfg.path(cfg.config.cacheDir));
  try {
    const checked = await checkTables(store, ownTables);
    for (const line of checked.lines) process.stdout.write(line + '\n');
    const problems = checked.reports.reduce((n, r) => n + r.problems.total, 0);
    if (problems > 0) throw new CleanroomError('DATA_INVALID', `${problems} problem(s) in ${checked.reports.filter((r) => r.problems.total > 0).map((r) => r.table).join(', ')}; see above`);
    return 0;
  } finally {
    store.close();
  }
}

async function query(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false }, preview: { type: 'boolean', default: false } } });
  const [dir, sql] = positionals;
  if (!dir || !sql) throw usage('query <dir> <sql> [--json] | query <dir> --preview <sql>');
  if (values.preview) return previewQuery(dir, sql, values.json);
  const answer = await ask(dir, sql);
  if (answer.kind === 'released') {
    const { event } = answer;
    if (values.json) process.stdout.write(JSON.stringify(event) + '\n');
    else process.stdout.write(`query ${event.queryId} ran; ${event.groups} group(s) released to ${event.receivers.join(', ')} (this member is not a result receiver)\n`);
    return 0;
  }
  process.stdout.write(`${values.json ? JSON.stringify(answer.result) : formatResult(answer.result)}\n`);
  return 0;
}

/** Plans the query as the node would and reports its privacy cost; no cryptography, no charge, no node needed. */
async function previewQuery(dir: string, sql: string, json: boolean): Promise<number> {
  const { cfg, identity, manifest } = await loadNodeSetup(join(dir, 'config.json'));
  const plan = planQuery(await parseQuery(sql), manifest, identity.memberId);
  const p = await preview(plan, identity.memberId, cfg.path(DEFAULT_BUDGET_FILE));
  if (json) {
    process.stdout.write(JSON.stringify(p) + '\n');
    return 0;
  }
  const out = (s: string) => process.stdout.write(s + '\n');
  if (!p.dp) {
    out(`${p.mode} query; no table in it has a privacy policy: exact answers, no budget is charged; groups need ${p.threshold}`);
    return 0;
  }
  out(`${p.mode} query, differentially private: ε = ${p.epsilon}, δ = ${p.delta} per query (the strictest policy of its tables), ${p.noise}`);
  for (const c of p.charges) {
    const left = c.remaining === undefined ? `kept by ${c.owners.join(', ')}` : `${c.remaining} of ${c.budget} remains (refresh: ${c.refresh})`;
    out(`  charges ${c.cost} to ${c.table}: ${left}`);
  }
  out(`release threshold: ${p.threshold}`);
  out('error of each value, 95% of the time at least:');
  for (const e of p.errors) out(`  ${oneLine(e.output)}: ${e.bound}`);
  for (const w of p.warnings) out(`warning: ${oneLine(w.message)}`);
  return 0;
}

async function budget(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const dir = positionals[0];
  if (!dir) throw usage('budget <dir> [--json]');
  const { cfg, ownTables } = await loadNodeSetup(join(dir, 'config.json'));
  return budgetCommand(cfg.path(DEFAULT_BUDGET_FILE), ownTables, { json: values.json }, (line) => process.stdout.write(line + '\n'));
}

async function match(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { with: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const [dir, table] = positionals;
  if (!dir || !table || !values.with) throw usage('match <dir> <table> --with <member> [--json]');
  const report = await matchReport(await controlEndpoint(dir), table, values.with);
  for (const line of values.json ? report.map((m) => JSON.stringify(m)) : matchLines(report)) process.stdout.write(line + '\n');
  return 0;
}

async function audit(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { verify: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
  const dir = positionals[0];
  if (!dir) throw usage('audit <dir> [--verify] [--json]');
  return auditCommand(join(dir, DEFAULT_AUDIT_FILE), { verify: values.verify, json: values.json }, (line) => process.stdout.write(line + '\n'));
}

async function status(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const dir = positionals[0];
  if (!dir) throw usage('status <dir> [--json]');
  const s = await nodeStatus(await controlEndpoint(dir));
  process.stdout.write(
    values.json
      ? `${JSON.stringify(s)}\n`
      : `running: node ${s.member} of ${s.collaboration} (manifest v${s.manifestVersion}); crypto backend ${s.backend} on ${s.workers} worker thread(s); peak memory ${s.peakRssMiB} MiB\n${s.hashCache.map((h) => `hash cache: ${h.table}.${h.key} ${h.state}${h.total === undefined ? '' : `, ${h.done} of ${h.total} distinct keys`}\n`).join('')}`,
  );
  return 0;
}

/**
 * Stops the node of <dir> gracefully: it refuses new queries, lets the running ones end (up to STOP_GRACE_MS; any
 * still running then are aborted), and exits. One line once its control port has closed, the last thing it closes.
 */
async function stop(args: string[]): Promise<number> {
  const dir = args[0];
  if (!dir) throw usage('stop <dir>');
  const endpoint = await controlEndpoint(dir);
  const notRunning = (err: unknown) => {
    const e = asCleanroomError(err);
    if (e.code !== 'PEER_UNREACHABLE') return e;
    return new CleanroomError('PEER_UNREACHABLE', `no node is running for ${dir}: nothing answers on its control port ${endpoint.host}:${endpoint.port}`);
  };
  const s = await nodeStatus(endpoint).catch((err: unknown) => Promise.reject(notRunning(err)));
  const answer = await requestStop(endpoint).catch((err: unknown) => Promise.reject(notRunning(err)));
  if (answer.running > 0) process.stderr.write(`stopping: ${answer.running} query(ies) running may take up to ${answer.graceMs / 1000} s to end; any still running then is aborted\n`);
  await waitForExit(endpoint, answer.graceMs + STOP_CLOSE_WAIT_MS);
  process.stdout.write(`stopped: node ${s.member} of ${s.collaboration} (${dir})\n`);
  return 0;
}

/** The link on stdout alone, so that a script can pass it to a browser; what it is for on stderr. */
async function consoleLink(args: string[]): Promise<number> {
  const dir = args[0];
  if (!dir) throw usage('console <dir>');
  const { url, expiresInMs } = await consoleLoginLink(await controlEndpoint(dir));
  process.stderr.write(`open this link in a browser on this machine within ${expiresInMs / 1000} s; it logs in once:\n`);
  process.stdout.write(url + '\n');
  return 0;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) throw usage(`expected host:port, got ${s}`);
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), port];
}

function usage(message: string): CleanroomError {
  return new CleanroomError('CONFIG_INVALID', `usage: cleanroom ${message}`);
}

/** This build's version, from the package it was built from; under the command's name, not the package's (cleanroom-node). */
async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `cleanroom ${pkg.version}`;
}

/** node:util's parseArgs refuses an unknown option or a missing value with a TypeError of this code: the user's fault. */
function argumentError(err: unknown, argv: readonly string[]): CleanroomError | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  const command = argv[0] !== undefined && COMMANDS[argv[0]] ? argv[0] : undefined;
  return new CleanroomError('CONFIG_INVALID', `${(err as Error).message}; see cleanroom ${command ? `${command} ` : ''}--help`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    const e = argumentError(err, process.argv.slice(2)) ?? asCleanroomError(err);
    process.stderr.write(`cleanroom: ${e.code}: ${e.message}\n`);
    process.exit(1);
  },
);


