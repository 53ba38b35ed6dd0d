import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MULTI_CONTROL_PORT, MULTI_MEMBERS, MULTI_PEER_PORT } from '../../scripts/demo-multi.js';
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
}
// Compose resolves YAML merge keys (<<: *node), as here.
const compose = parse(readFileSync(join(repoRoot(), 'docker', 'compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };

describe('docker/compose.yml and docker/Dockerfile', () => {
  it('has one node service per organisation of the demo, plus the one-shot setup and queries', () => {
    expect(Object.keys(compose.services).sort()).toEqual([...MULTI_MEMBERS, 'queries', 'setup'].sort());
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
    expect(setup.volumes!.sort()).toEqual(MULTI_MEMBERS.map((m) => `${m}-node:/nodes/${m}`).sort());
    expect(setup.build).toEqual({ context: '..', dockerfile: 'docker/Dockerfile' });
    const queries = compose.services.queries!;
    expect(queries.network_mode).toBe('service:publisher');
    expect(queries.entrypoint).toEqual(['node', 'dist/scripts/demo-multi.js', '--queries', '/node']);
    expect(queries.volumes).toEqual(['publisher-node:/node:ro']);
    for (const m of MULTI_MEMBERS) expect(queries.depends_on?.[m]?.condition).toBe('service_healthy');
    expect(existsSync(join(repoRoot(), 'dist', 'scripts', 'demo-multi.js'))).toBe(true);
  });

  it('builds in two stages from the lockfile and runs as a non-root user', () => {
    const docker = readFileSync(join(repoRoot(), 'docker', 'Dockerfile'), 'utf8');
    expect(docker.match(/^FROM /gm)).toHaveLength(2);
    expect(docker).toMatch(/COPY package\.json package-lock\.json/);
    expect(docker).toMatch(/RUN npm ci/);
    expect(docker).toMatch(/^USER node$/m);
    expect(docker).toMatch(/chown -R node:node \/node \/nodes/);
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
        for (const t of Object.values(cfg.tables) as { path: string }[]) expect(existsSync(join(dir, m, t.path))).toBe(true);
        const { manifest } = parseSignedManifest(JSON.parse(readFileSync(join(dir, m, 'manifest.json'), 'utf8')), true);
        expect(manifest.members.map((x) => [x.id, x.endpoint])).toEqual(MULTI_MEMBERS.map((x) => [x, `ws://${x}:${MULTI_PEER_PORT}`]));
      }
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
