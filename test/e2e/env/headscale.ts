// Real `headscale serve` on 127.0.0.1 with SQLite, MagicDNS (tail.june.test), the
// embedded DERP server (+STUN) on loopback, and a unix socket in a temp dir. The one
// launcher of a standalone Headscale for every test (the env, test/helpers/headscale-server.ts).
import { chmodSync, mkdirSync, renameSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { daemon, freePort, run, waitFor, tail, type Daemon } from './util.js';

export const BASE_DOMAIN = 'tail.june.test';

/** Config for one headscale version (keys differ: 0.23-0.25 vs 0.26+). */
export function headscaleConfig(
  version: string,
  { dir, port, metricsPort, grpcPort, stunPort }: { dir: string; port: number; metricsPort: number; grpcPort: number; stunPort: number },
): string {
  const minor = Number(/^v?0\.(\d+)/.exec(version)?.[1] ?? 99);
  const lines = [
    `server_url: http://127.0.0.1:${port}`,
    `listen_addr: 127.0.0.1:${port}`,
    `metrics_listen_addr: 127.0.0.1:${metricsPort}`,
    `grpc_listen_addr: 127.0.0.1:${grpcPort}`,
    'grpc_allow_insecure: false',
    'noise:',
    `  private_key_path: ${dir}/noise_private.key`,
    'prefixes:',
    '  v4: 100.64.0.0/10',
    '  v6: fd7a:115c:a1e0::/48',
    '  allocation: sequential',
    'derp:',
    '  server:',
    '    enabled: true',
    '    region_id: 999',
    '    region_code: "headscale"',
    '    region_name: "Headscale Embedded DERP"',
    `    stun_listen_addr: "127.0.0.1:${stunPort}"`,
    `    private_key_path: ${dir}/derp_server_private.key`,
    '    automatically_add_embedded_derp_region: true',
    '    ipv4: 127.0.0.1',
    '  urls: []',
    '  paths: []',
    '  auto_update_enabled: false',
    '  update_frequency: 24h',
    'disable_check_updates: true',
    ...(minor >= 26 ? ['node:', '  expiry: 0', '  ephemeral:', '    inactivity_timeout: 30m'] : ['ephemeral_node_inactivity_timeout: 30m']),
    'database:',
    '  type: sqlite',
    '  sqlite:',
    `    path: ${dir}/db.sqlite`,
    '    write_ahead_log: true',
    'log:',
    '  level: info',
    '  format: text',
    'policy:',
    '  mode: database',
    'dns:',
    '  magic_dns: true',
    `  base_domain: ${BASE_DOMAIN}`,
    '  override_local_dns: false',
    '  nameservers:',
    '    global: []',
    '    split: {}',
    '  search_domains: []',
    '  extra_records: []',
    ...(minor < 26 ? ['  use_username_in_magic_dns: false'] : []),
    `unix_socket: ${dir}/headscale.sock`,
    'unix_socket_permission: "0770"',
    'logtail:',
    '  enabled: false',
  ];
  return lines.join('\n') + '\n';
}

export interface StandaloneHeadscale {
  version: string;
  /** server_url, http://127.0.0.1:PORT */
  url: string;
  apiUrl: string;
  /** '' unless created at start */
  apiKey: string;
  configPath: string;
  dir: string;
  bin: string;
  /** stdout+stderr of `headscale serve` */
  logFile: string;
  socket: string;
  /** `headscale -c config …`; resolves with stdout, rejects with stderr */
  cli(args: string[]): Promise<string>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** stop() and remove dir */
  destroy(): Promise<void>;
}

/** apiKey (default true): create an API key once it is up (hs.apiKey) */
export async function startHeadscale({
  version,
  bin,
  dir,
  logsDir,
  apiKey = true,
}: {
  version: string;
  bin: string;
  dir: string;
  logsDir: string;
  apiKey?: boolean;
}): Promise<StandaloneHeadscale> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const ports = { port, metricsPort: await freePort(), grpcPort: await freePort(), stunPort: await freePort(true) };
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, headscaleConfig(version, { dir, ...ports }));
  const logFile = join(logsDir, 'headscale.log');
  const env = { ...process.env, HEADSCALE_CONFIG: configPath };
  const url = `http://127.0.0.1:${port}`;
  let proc: Daemon | undefined;

  const cli = async (args: string[]) => (await run(bin, ['-c', configPath, ...args], { env, timeout: 30_000 })).stdout;

  const hs: StandaloneHeadscale = {
    version,
    url,
    apiUrl: `${url}/api/v1`,
    apiKey: '',
    configPath,
    dir,
    bin,
    logFile,
    socket: join(dir, 'headscale.sock'),
    cli,
    async start() {
      if (proc && proc.child.exitCode === null) return;
      proc = daemon(bin, ['-c', configPath, 'serve'], { logFile, env });
      await waitFor(
        `headscale ${version} health at ${url}`,
        async () => {
          if (proc?.child.exitCode !== null)
            throw Object.assign(new Error(`headscale exited (${proc?.child.exitCode}):\n${tail(logFile, 15)}`), { fatal: true });
          const r = await fetch(`${url}/health`).catch(() => null);
          return !!r?.ok && existsSync(hs.socket);
        },
        { timeoutMs: 30_000, intervalMs: 150 },
      );
    },
    async stop() {
      await proc?.stop();
      proc = undefined;
    },
    async destroy() {
      await hs.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await hs.start();
  if (apiKey) hs.apiKey = (await cli(['apikeys', 'create', '--expiration', '90d'])).trim().split('\n').pop()?.trim() ?? '';
  return hs;
}

/**
 * `kubectl exec … -- headscale … -f /dev/stdin` as kwok-controller runs it. kwok v0.8.0 never
 * closes the command's stdin when kubectl's stdin ends (a kubelet does: SPDY half-close, or the
 * websocket v5 CLOSE signal), so `headscale policy set|check -f /dev/stdin` would wait forever.
 * The `headscale` shim of writeExecShim (exec-shims.ts, already in `dir`) is wrapped: for those
 * commands stdin is cut where the first JSON document ends (comments and strings skipped) and
 * handed to the shim as an open file; every other command goes to the shim as is.
 */
export function writeHeadscaleExecShim(dir: string): string {
  const shim = join(dir, 'headscale');
  const inner = join(dir, 'headscale-pod');
  renameSync(shim, inner);
  const reader = join(dir, 'headscale-stdin.cjs');
  const script = String.raw`const { spawnSync } = require('node:child_process');
const { mkdtempSync, openSync, writeFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const BIN = ${JSON.stringify(inner)};
const args = process.argv.slice(2);
/** Index just past the first complete JSON document of text, or -1. */
function documentEnd(t) {
  let depth = 0, started = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (c === '"') { for (i++; i < t.length && t[i] !== '"'; i++) if (t[i] === '\\') i++; continue; }
    if (c === '/' && t[i + 1] === '/') { while (i < t.length && t[i] !== '\n') i++; continue; }
    if (c === '/' && t[i + 1] === '*') { const e = t.indexOf('*/', i + 2); if (e < 0) return -1; i = e + 1; continue; }
    if (c === '{' || c === '[') { depth++; started = true; }
    else if (c === '}' || c === ']') { depth--; if (started && depth === 0) return i + 1; }
  }
  return -1;
}
let text = '';
let done = false;
const finish = () => {
  if (done) return;
  done = true;
  // a regular file, not a pipe: node's pipes are sockets, which /dev/stdin cannot open
  const dir = mkdtempSync(join(tmpdir(), 'hs-stdin-'));
  const file = join(dir, 'input');
  writeFileSync(file, text, { mode: 0o600 });
  const fd = openSync(file, 'r');
  rmSync(dir, { recursive: true, force: true });
  const r = spawnSync(BIN, args, { stdio: [fd, 'inherit', 'inherit'] });
  process.exit(r.status ?? 1);
};
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { text += d; const end = documentEnd(text); if (end >= 0) { text = text.slice(0, end) + '\n'; finish(); } });
process.stdin.on('end', finish);
`;
  writeFileSync(reader, script);
  // only the commands that read stdin pay for starting node
  writeFileSync(
    shim,
    [
      '#!/bin/sh',
      'case " $* " in',
      `  *" -f /dev/stdin "*) exec ${process.execPath} ${reader} "$@" ;;`,
      'esac',
      `exec ${inner} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(shim, 0o755);
  return dir;
}
