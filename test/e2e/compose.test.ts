import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMPOSE_DATABASE, MULTI_CONTROL_PORT, MULTI_MEMBERS, MULTI_PEER_PORT } from '../../scripts/demo-multi.js';
import { loadConfig } from '../../src/config/node-config.js';
import { CLI, repoRoot } from '../../scripts/local-cluster.js';
import { parseSignedManifest } from '../../src/manifest/signature.js';
import { CONTROL_TOKEN_FILE } from '../../src/control/control-token.js';
import { makeTempDir } from './helpers.js';

/**
 * No Docker engine runs on the development machines, so the compose topology is checked against the one
 * `npm run demo:multi` runs: the same services, ports, volumes and node configuration.
 */
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  volumes?: string[];
  expose?: string[];
  network_mode?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  environment?: Record<string, string>;
}
// Compose resolves YAML merge keys (<<: *node), as here.
const compose = parse(readFileSync(join(repoRoot(), 'docker', 'compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };

describe('docker/compose.yml and docker/Dockerfile', () => {
  it('has one node service per organisation of the demo, plus the one-shot setup and queries', () => {
    expect(Object.keys(compose.services).sort()).toEqual([...MULTI_MEMBERS, 'queries', 'setup', 'retailer2-db'].sort());
  });

  it('gives each organisation its own volume, mounted as its node directory, and exposes the peer port', () => {
    for (const m of MULTI_MEMBERS) {
      const s = compose.services[m]!;
      expect(s.command).toEqual(['start', '/node']);
      expect(s.volumes).toEqual([`${m}-node:/node`]);
      expect(s.expose).toContain(String(MULTI_PEER_PORT));
      expect(s.depends_on?.setup?.condition).toBe('service_completed_successfully');
      expect(s.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${MULTI_CONTROL_PORT}/status`);
      expect(s.healthcheck?.test.join(' ')).toContain(`/node/${CONTROL_TOKEN_FILE}`);
      expect(Object.keys(compose.volumes)).toContain(`${m}-node`);
    }
    const others = MULTI_MEMBERS.flatMap((m) => compose.services[m]!.volumes!);
    expect(new Set(others).size).toBe(MULTI_MEMBERS.length);
  });

  it('prepares every volume in the setup service and queries from the publisher\'s network namespace', () => {
    const setup = compose.services.setup!;
    expect(setup.entrypoint).toEqual(['node', 'dist/scripts/demo-multi.js', '--prepare', '/nodes']);
    expect(setup.volumes!.sort()).toEqual([...MULTI_MEMBERS.map((m) => `${m}-node:/nodes/${m}`), `${COMPOSE_DATABASE.seedVolume}:/nodes/${COMPOSE_DATABASE.seedVolume}`].sort());
    expect(setup.build).toEqual({ context: '..', dockerfile: 'docker/Dockerfile' });
    const queries = compose.services.queries!;
    expect(queries.network_mode).toBe('service:publisher');
    expect(queries.entrypoint).toEqual(['node', 'dist/scripts/demo-multi.js', '--queries', '/node']);
    expect(queries.volumes).toEqual(['publisher-node:/node:ro']);
    for (const m of MULTI_MEMBERS) expect(queries.depends_on?.[m]?.condition).toBe('service_healthy');
    expect(existsSync(join(repoRoot(), 'dist', 'scripts', 'demo-multi.js'))).toBe(true);
  });

  it('gives retailer2 a PostgreSQL service (the official image) that loads its table from the seed, and its node reads it there', () => {
    const db = compose.services['retailer2-db']!;
    expect(db.image).toMatch(/^postgres:\d+$/);
    expect(db.depends_on?.setup?.condition).toBe('service_completed_successfully');
    expect(db.volumes).toContain(`${COMPOSE_DATABASE.seedVolume}:/seed:ro`);
    const init = db.volumes!.find((v) => v.includes('/docker-entrypoint-initdb.d/'))!;
    const script = readFileSync(join(repoRoot(), 'docker', init.split(':')[0]!), 'utf8');
    // The script loads the table the config names, from the seed file the setup writes, and creates the config's user
    // with the password the node is given: all from the one variable, in neither file.
    const url = new URL(COMPOSE_DATABASE.url);
    expect(url.hostname).toBe('retailer2-db');
    expect(url.pathname).toBe(`/${db.environment!.POSTGRES_DB}`);
    expect(script).toContain(`COPY public.${COMPOSE_DATABASE.table} FROM '/seed/${COMPOSE_DATABASE.table}.csv'`);
    expect(script).toContain(`CREATE ROLE ${url.username} LOGIN PASSWORD :'reader_password'`);
    expect(script).toContain(`\\getenv reader_password ${COMPOSE_DATABASE.passwordEnv}`);
    expect(script).toContain(`GRANT SELECT ON public.${COMPOSE_DATABASE.table} TO ${url.username}`);
    const node = compose.services[COMPOSE_DATABASE.member]!;
    expect(node.environment?.[COMPOSE_DATABASE.passwordEnv]).toBe(db.environment![COMPOSE_DATABASE.passwordEnv]);
    expect(node.depends_on?.['retailer2-db']?.condition).toBe('service_healthy');
    expect(node.depends_on?.setup?.condition).toBe('service_completed_successfully');
    expect(db.healthcheck?.test).toContain('pg_isready');
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining([COMPOSE_DATABASE.seedVolume, 'retailer2-db']));
  });

  it('builds in two stages from the lockfile and runs as a non-root user', () => {
    const docker = readFileSync(join(repoRoot(), 'docker', 'Dockerfile'), 'utf8');
    expect(docker.match(/^FROM /gm)).toHaveLength(2);
    expect(docker).toMatch(/COPY package\.json package-lock\.json/);
    expect(docker).toMatch(/RUN npm ci/);
    expect(docker).toMatch(/^USER node$/m);
    expect(docker).toMatch(/chown -R node:node \/node \/nodes/);
    expect(docker).toContain(`/nodes/${COMPOSE_DATABASE.seedVolume}`);
    expect(docker).toMatch(/COPY web \.\/web/);
  });

  describe('what the setup service writes', () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ dir, cleanup } = await makeTempDir('compose'));
      const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'scripts', 'demo-multi.js'), '--prepare', dir], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    });
    afterAll(() => cleanup?.());

    it('node configs agree with the services: listen on the peer port, control on loopback, endpoints by service name', () => {
      for (const m of MULTI_MEMBERS) {
        const cfg = JSON.parse(readFileSync(join(dir, m, 'config.json'), 'utf8'));
        expect(cfg.listen).toEqual({ host: '0.0.0.0', port: MULTI_PEER_PORT });
        expect(cfg.control).toEqual({ host: '127.0.0.1', port: MULTI_CONTROL_PORT });
        for (const t of Object.values(cfg.tables) as { path?: string }[]) if (t.path) expect(existsSync(join(dir, m, t.path))).toBe(true);
        const { manifest } = parseSignedManifest(JSON.parse(readFileSync(join(dir, m, 'manifest.json'), 'utf8')), true);
        expect(manifest.members.map((x) => [x.id, x.endpoint])).toEqual(MULTI_MEMBERS.map((x) => [x, `ws://${x}:${MULTI_PEER_PORT}`]));
      }
    });

    it('retailer2\'s config reads its customers from its database, and their rows sit in the seed, not in the node volume', async () => {
      const cfg = await loadConfig(join(dir, COMPOSE_DATABASE.member, 'config.json'));
      expect(cfg.tables[COMPOSE_DATABASE.table]).toEqual({ kind: 'postgres', url: COMPOSE_DATABASE.url, passwordEnv: COMPOSE_DATABASE.passwordEnv, table: `public.${COMPOSE_DATABASE.table}` });
      expect(readFileSync(join(dir, COMPOSE_DATABASE.seedVolume, `${COMPOSE_DATABASE.table}.csv`), 'utf8').split('\n')[0]).toBe('email,segment');
      expect(existsSync(join(dir, COMPOSE_DATABASE.member, 'data', `${COMPOSE_DATABASE.table}.csv`))).toBe(false);
    });

    it('each organisation\'s volume holds only its own data', () => {
      const pub = spawnSync(process.execPath, [CLI(), 'manifest', 'verify', join(dir, 'publisher', 'manifest.json')], { encoding: 'utf8' });
      expect(pub.stdout).toContain('signed by every member');
      expect(existsSync(join(dir, 'publisher', 'data', 'sales.csv'))).toBe(false);
      expect(existsSync(join(dir, 'retailer1', 'data', 'impressions.csv'))).toBe(false);
      expect(existsSync(join(dir, 'retailer1', 'data', 'customers_r2.csv'))).toBe(false);
    });

    it('a second setup run leaves the prepared volumes alone', () => {
      const before = readFileSync(join(dir, 'publisher', 'identity.json'), 'utf8');
      const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'scripts', 'demo-multi.js'), '--prepare', dir], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(readFileSync(join(dir, 'publisher', 'identity.json'), 'utf8')).toBe(before);
    });
  });
});

describe('npm run demo:multi', () => {
  it('runs the three-organisation demo and every answer agrees with the plaintext', async () => {
    const { dir, cleanup } = await makeTempDir('demo-multi');
    try {
      const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'scripts', 'demo-multi.js')], {
        encoding: 'utf8',
        env: { ...process.env, CLEANROOM_DEMO_DIR: dir, CLEANROOM_DEMO_ROWS: '4000' },
        timeout: 120_000,
      });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout.match(/agree: yes/g)).toHaveLength(2);
      expect(r.stdout).toContain('All answers agree with the plaintext computation.');
      expect(r.stdout).toContain('clean room (federated)');
    } finally {
      await cleanup();
    }
  });
});
