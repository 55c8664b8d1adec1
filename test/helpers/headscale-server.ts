// Starts a real `headscale serve` on loopback for end-to-end tests: free ports, sqlite and
// keys in a temp dir, embedded DERP on loopback (works offline), unix socket in the temp dir.
// The same config is valid for 0.23, 0.26 and 0.29.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

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

async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
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

export function headscaleConfig(dir: string, p: { http: number; metrics: number; grpc: number; stun: number }): string {
  return `server_url: http://127.0.0.1:${p.http}
listen_addr: 127.0.0.1:${p.http}
metrics_listen_addr: 127.0.0.1:${p.metrics}
grpc_listen_addr: 127.0.0.1:${p.grpc}
grpc_allow_insecure: false
noise:
  private_key_path: ${dir}/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
  allocation: sequential
derp:
  server:
    enabled: true
    region_id: 999
    region_code: headscale
    region_name: Headscale Embedded DERP
    stun_listen_addr: 127.0.0.1:${p.stun}
    private_key_path: ${dir}/derp_server_private.key
    automatically_add_embedded_derp_region: true
    ipv4: 127.0.0.1
  urls: []
  paths: []
  auto_update_enabled: false
  update_frequency: 24h
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: ${dir}/db.sqlite
log:
  level: warn
policy:
  mode: file
  path: ""
dns:
  magic_dns: true
  base_domain: tail.test
  nameservers:
    global:
      - 1.1.1.1
unix_socket: ${dir}/headscale.sock
unix_socket_permission: "0770"
`;
}

export async function startHeadscale(version: string, timeoutMs = 20_000): Promise<HeadscaleServer> {
  const bin = headscaleBinary(version);
  if (!existsSync(bin)) throw new Error(`headscale ${version} binary missing at ${bin}`);
  const dir = await mkdtemp(join(tmpdir(), `hs-${version}-`));
  const ports = { http: await freeTcpPort(), metrics: await freeTcpPort(), grpc: await freeTcpPort(), stun: await freeUdpPort() };
  const config = join(dir, 'config.yaml');
  await writeFile(config, headscaleConfig(dir, ports));
  const url = `http://127.0.0.1:${ports.http}`;

  let output = '';
  const child: ChildProcess = spawn(bin, ['-c', config, 'serve'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));

  const prefix = [bin, '-c', config];
  const server: HeadscaleServer = {
    version,
    bin,
    dir,
    config,
    url,
    prefix,
    log: () => output,
    async cli(args) {
      const r = await execa(bin, ['-c', config, ...args], { reject: false, cwd: dir });
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
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitPromise;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };

  // Ready when /health passes and the CLI's unix socket answers.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`headscale ${version} exited during start-up:\n${output}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok && existsSync(join(dir, 'headscale.sock'))) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`headscale ${version} not ready after ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return server;
}
