// A real `headscale serve` on loopback for end-to-end tests that need only Headscale (no
// cluster): the environment's own launcher (test/e2e/env/headscale.ts: free ports, SQLite
// and keys in a temp dir, embedded DERP on loopback, works offline, the config of each
// version), plus what these tests need on top (CLI argv prefix, API key, fake nodes).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startHeadscale as startStandalone, type StandaloneHeadscale } from '../e2e/env/headscale.js';

export const HEADSCALE_TEST_VERSIONS = ['v0.23.0', 'v0.26.1', 'v0.29.3'] as const;
export type HeadscaleTestVersion = (typeof HEADSCALE_TEST_VERSIONS)[number];

/** Where the prebuilt binaries live (override with JUNE_TS_E2E_BIN). */
export function headscaleBinary(version: string): string {
  const root = process.env.JUNE_TS_E2E_BIN ?? join(homedir(), '.cache', 'june-ts-e2e', 'bin');
  return join(root, `headscale-${version}`, 'headscale');
}

export function haveHeadscale(version: string): boolean {
  return existsSync(headscaleBinary(version));
}

export interface HeadscaleServer {
  version: string;
  bin: string;
  dir: string;
  config: string;
  url: string;
  /** argv prefix for the CLI transport. */
  prefix: string[];
  /** Run the CLI against this server. */
  cli(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  createApiKey(): Promise<string>;
  /** Register a node for `user` without a Tailscale client (`headscale debug create-node` + register). */
  registerNode(user: string, name: string): Promise<void>;
  stop(): Promise<void>;
  /** Server log so far (for failure messages). */
  log(): string;
}

export async function startHeadscale(version: string): Promise<HeadscaleServer> {
  const bin = headscaleBinary(version);
  if (!existsSync(bin)) throw new Error(`headscale ${version} binary missing at ${bin}`);
  const dir = await mkdtemp(join(tmpdir(), `hs-${version}-`));
  let hs: StandaloneHeadscale;
  try {
    hs = await startStandalone({ version, bin, dir: join(dir, 'hs'), logsDir: dir, apiKey: false });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const prefix = [bin, '-c', hs.configPath];
  const server: HeadscaleServer = {
    version,
    bin,
    dir: hs.dir,
    config: hs.configPath,
    url: hs.url,
    prefix,
    log: () => (existsSync(hs.logFile) ? readFileSync(hs.logFile, 'utf8') : ''),
    async cli(args) {
      const r = await execa(bin, ['-c', hs.configPath, ...args], { reject: false, cwd: hs.dir });
      return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? 1 };
    },
    async createApiKey() {
      const r = await this.cli(['apikeys', 'create', '--expiration', '1h']);
      if (r.exitCode !== 0) throw new Error(`apikeys create failed: ${r.stderr}`);
      const key = r.stdout.trim().split('\n').pop()?.trim() ?? '';
      if (key.length < 10) throw new Error(`apikeys create printed no key: ${r.stdout}`);
      return key;
    },
    async registerNode(user, name) {
      const minor = Number(/^v?0\.(\d+)/.exec(version)?.[1] ?? 0);
      const rand = (n: number) =>
        randomBytes(64)
          .toString('base64')
          .replace(/[^A-Za-z0-9]/g, '')
          .slice(0, n);
      const steps: string[][] =
        minor >= 28
          ? [
              ['debug', 'create-node', '--name', name, '--user', user, '--key', `hskey-authreq-${rand(24)}`],
              ['auth', 'register', '--user', user, '--auth-id'],
            ]
          : minor >= 26
            ? [
                ['debug', 'create-node', '--name', name, '--user', user, '--key', rand(24)],
                ['nodes', 'register', '--user', user, '--key'],
              ]
            : [
                ['debug', 'create-node', '--name', name, '--user', user, '--key', `mkey:${randomBytes(32).toString('hex')}`],
                ['nodes', 'register', '--user', user, '--key'],
              ];
      const reg = steps[0]!.at(-1) as string;
      for (const args of [steps[0]!, [...steps[1]!, reg]]) {
        const r = await this.cli([...args, '-o', 'json']);
        if (r.exitCode !== 0) throw new Error(`headscale ${args.join(' ')} failed: ${r.stderr}`);
      }
    },
    async stop() {
      await hs.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}
