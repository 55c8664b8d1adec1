// The host of phase 11.5 as a real host: a kernel-mode tailscaled with a TUN device in a
// sandbox of its own (loopback only, Headscale's port forwarded in), its control socket
// on the shared filesystem so june-ts in the root namespace drives it with
// `tailscale --socket=… up`, and a private /etc/resolv.conf that tailscaled rewrites to
// 100.100.100.100 once it accepts DNS. curl and the load loop run inside that sandbox,
// so names resolve through MagicDNS and traffic goes over the tailnet.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createSandbox, type Sandbox, type SandboxProcess } from './netns.js';

export const TAILSCALE_VERSION = 'v1.102.3';

export function tailscaleBinDir(version = TAILSCALE_VERSION): string {
  const root = process.env.JUNE_TS_E2E_BIN ?? join(process.env.JUNE_TS_CACHE ?? join(homedir(), '.cache', 'june-ts-e2e'), 'bin');
  return join(root, `tailscale-${version}`);
}

/**
 * Env for a tailscaled in a loopback-only sandbox. TS_DEBUG_USE_DERP_HTTP: Headscale's embedded
 * DERP is plain HTTP here. TS_ASSUME_NETWORK_UP_FOR_TEST: with no usable (non-loopback) address
 * tailscaled thinks the network is down, pauses its control client and refuses to send over DERP.
 */
export function sandboxTailscaleEnv(logsDir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    PATH: base.PATH,
    HOME: base.HOME,
    TS_NO_LOGS_NO_SUPPORT: 'true',
    TS_DEBUG_USE_DERP_HTTP: '1',
    TS_ASSUME_NETWORK_UP_FOR_TEST: '1',
    TS_LOGS_DIR: logsDir,
  };
}

const peerSchema = z.object({
  HostName: z.string(),
  DNSName: z.string(),
  TailscaleIPs: z.array(z.string()).nullish(),
  Online: z.boolean().optional(),
  CurAddr: z.string().optional(),
  Relay: z.string().optional(),
});
const statusSchema = z.object({
  BackendState: z.string(),
  MagicDNSSuffix: z.string().optional(),
  CurrentTailnet: z.object({ MagicDNSSuffix: z.string().optional(), MagicDNSEnabled: z.boolean().optional() }).nullish(),
  Self: peerSchema.nullish(),
  Peer: z.record(z.string(), peerSchema).nullish(),
});
export type HostStatus = z.infer<typeof statusSchema>;

export interface CurlResult {
  /** curl's exit code (0 = an HTTP answer was read; 28 = timeout; 6 = name not resolved; 7 = refused). */
  code: number | null;
  body: string;
  stderr: string;
  ms: number;
}

export interface UrlLoad {
  requests: number;
  successes: number;
  failures: number;
  /** Longest time without a success: between two successes, from the start to the first, or from the last to the end. */
  longestGapMs: number;
  /** The first few failures (ms since the start, error). */
  errors: Array<{ atMs: number; error: string }>;
  /** Start of the last successful answer's body. */
  lastBody: string;
}
export type LoadResult = Record<string, UrlLoad>;

export interface LoadOptions {
  /** One request per URL every intervalMs (a slow request delays the next; requests never overlap per URL). */
  intervalMs?: number;
  /** Upper bounds: the loop ends at whichever comes first. */
  maxRequests?: number;
  maxMs: number;
  /** Per request (connect + answer). */
  requestTimeoutMs?: number;
}

export interface LoadRun {
  /** Resolves when a bound is reached. */
  done: Promise<LoadResult>;
  /** Ends the loop early (in-flight requests finish) and resolves with what was measured. */
  stop(): Promise<LoadResult>;
}

export interface HostOptions {
  /** Headscale's URL in the root namespace; must be http://127.0.0.1:<port> (the port is forwarded into the sandbox). */
  headscaleUrl: string;
  name?: string;
  binDir?: string;
  /** tailscaled's log (default: in the sandbox dir, removed by stop()). */
  logFile?: string;
  parentDir?: string;
}

export interface Host {
  sandbox: Sandbox;
  /** tailscaled's LocalAPI socket, on the shared filesystem. */
  socket: string;
  logFile: string;
  /** `tailscale --socket=<socket> <args>` in the root namespace; resolves with stdout, rejects with stderr. */
  cli(args: string[], opts?: { timeoutMs?: number }): Promise<string>;
  status(): Promise<HostStatus>;
  /** `tailscale up` with the key passed as file:… (never in argv), accepting DNS, netfilter off. */
  up(o: { authKey: string; hostname: string; timeoutSec?: number; extra?: string[] }): Promise<string>;
  /** The sandbox's /etc/resolv.conf as tailscaled left it. */
  resolvConf(): Promise<string>;
  /** curl run inside the host sandbox, bounded by timeoutMs (default 10 s). */
  curl(url: string, opts?: { timeoutMs?: number; args?: string[] }): Promise<CurlResult>;
  loadLoop(urls: string[], opts: LoadOptions): LoadRun;
  stop(): Promise<void>;
}

const LOADER = String.raw`
const http = require('node:http');
const cfg = JSON.parse(process.argv[1]);
const t0 = Date.now();
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function once(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: cfg.requestTimeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('error', (e) => resolve({ ok: false, error: e.code || e.message }));
      res.on('end', () => resolve(res.statusCode >= 200 && res.statusCode < 300 ? { ok: true, body } : { ok: false, error: 'HTTP ' + res.statusCode }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within ' + cfg.requestTimeoutMs + ' ms'), { code: 'TIMEOUT' })));
    req.on('error', (e) => resolve({ ok: false, error: e.code || e.message }));
  });
}
async function loop(url) {
  const s = { requests: 0, successes: 0, failures: 0, longestGapMs: 0, errors: [], lastBody: '' };
  let lastOk = t0, next = t0;
  while (!stopping && s.requests < cfg.maxRequests && Date.now() - t0 < cfg.maxMs) {
    if (next > Date.now()) await sleep(next - Date.now());
    if (stopping) break;
    s.requests++;
    const r = await once(url);
    const now = Date.now();
    if (r.ok) { s.successes++; s.longestGapMs = Math.max(s.longestGapMs, now - lastOk); lastOk = now; s.lastBody = r.body.slice(0, 200); }
    else { s.failures++; if (s.errors.length < 5) s.errors.push({ atMs: now - t0, error: r.error }); }
    next = Math.max(next + cfg.intervalMs, now);
  }
  s.longestGapMs = Math.max(s.longestGapMs, Date.now() - lastOk);
  return [url, s];
}
Promise.all(cfg.urls.map(loop)).then((all) => { process.stdout.write(JSON.stringify(Object.fromEntries(all))); process.exit(0); });
`;

function runFile(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err)
        reject(
          new Error(`${[file, ...args].join(' ')} failed (${err.code ?? err.signal}): ${String(stderr).trim() || String(stdout).trim()}`),
        );
      else resolve(String(stdout));
    });
  });
}

const tail = (file: string, n = 20) => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
};

export async function startHost(opts: HostOptions): Promise<Host> {
  const url = new URL(opts.headscaleUrl);
  if (url.hostname !== '127.0.0.1' || !url.port)
    throw new Error(`startHost: headscaleUrl must be http://127.0.0.1:<port>, got ${opts.headscaleUrl}`);
  const binDir = opts.binDir ?? tailscaleBinDir();
  const sandbox = await createSandbox({ name: opts.name ?? 'host', parentDir: opts.parentDir });
  let daemon: SandboxProcess | undefined;
  try {
    await sandbox.forward(Number(url.port));
    const socket = join(sandbox.dir, 'tailscaled.sock');
    const stateDir = join(sandbox.dir, 'state');
    mkdirSync(stateDir, { recursive: true });
    const logFile = opts.logFile ?? join(sandbox.dir, 'tailscaled.log');
    daemon = sandbox.spawn([join(binDir, 'tailscaled'), '--tun=tailscale0', `--socket=${socket}`, `--statedir=${stateDir}`], {
      env: sandboxTailscaleEnv(stateDir),
      stdout: logFile,
      stderr: logFile,
    });
    const proc = daemon;
    const cli = (args: string[], o: { timeoutMs?: number } = {}) =>
      runFile(join(binDir, 'tailscale'), [`--socket=${socket}`, ...args], o.timeoutMs ?? 30_000);
    const status = async () => statusSchema.parse(JSON.parse(await cli(['status', '--json'])));

    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null)
        throw new Error(`host tailscaled exited during start-up:\n${tail(logFile)}`);
      if (
        await status().then(
          () => true,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline) throw new Error(`host tailscaled did not answer on ${socket} within 20 s:\n${tail(logFile)}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const host: Host = {
      sandbox,
      socket,
      logFile,
      cli,
      status,

      async up({ authKey, hostname, timeoutSec = 60, extra = [] }) {
        const keyFile = join(sandbox.dir, 'authkey');
        writeFileSync(keyFile, authKey, { mode: 0o600 });
        try {
          return await cli(
            [
              'up',
              `--login-server=${url.origin}`,
              `--auth-key=file:${keyFile}`,
              `--hostname=${hostname}`,
              '--accept-dns=true',
              '--netfilter-mode=off',
              `--timeout=${timeoutSec}s`,
              ...extra,
            ],
            { timeoutMs: (timeoutSec + 15) * 1000 },
          );
        } finally {
          rmSync(keyFile, { force: true });
        }
      },

      async resolvConf() {
        const r = await sandbox.exec(['cat', '/etc/resolv.conf'], { timeoutMs: 5000 });
        if (r.code !== 0) throw new Error(`reading the host sandbox's resolv.conf failed: ${r.stderr}`);
        return r.stdout;
      },

      async curl(target, o = {}) {
        const timeoutMs = o.timeoutMs ?? 10_000;
        const r = await sandbox.exec(['curl', '-sS', '--max-time', String(timeoutMs / 1000), ...(o.args ?? []), target], {
          timeoutMs: timeoutMs + 5000,
        });
        return { code: r.code, body: r.stdout, stderr: r.stderr.trim(), ms: r.ms };
      },

      loadLoop(urls, o) {
        const intervalMs = o.intervalMs ?? 100;
        const cfg = {
          urls,
          intervalMs,
          maxMs: o.maxMs,
          maxRequests: o.maxRequests ?? Math.ceil(o.maxMs / intervalMs) + 1,
          requestTimeoutMs: o.requestTimeoutMs ?? 2000,
        };
        const p = sandbox.spawn([process.execPath, '-e', LOADER, JSON.stringify(cfg)], { stdout: 'pipe', stderr: 'pipe' });
        let out = '',
          err = '';
        p.child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
        });
        p.child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
        });
        const hardStop = setTimeout(() => p.kill('SIGKILL'), cfg.maxMs + cfg.requestTimeoutMs + 10_000);
        const done = p.exited.then(({ code, signal }) => {
          clearTimeout(hardStop);
          if (code !== 0) throw new Error(`load loop ended with ${code ?? signal}: ${err.trim()}`);
          return JSON.parse(out) as LoadResult;
        });
        return {
          done,
          stop() {
            if (p.child.pid)
              try {
                process.kill(p.child.pid, 'SIGTERM');
              } catch {
                /* already ended */
              }
            return done;
          },
        };
      },

      async stop() {
        await proc.stop(5000);
        await sandbox.destroy();
      },
    };
    return host;
  } catch (e) {
    await daemon?.stop(2000);
    await sandbox.destroy();
    throw e;
  }
}
