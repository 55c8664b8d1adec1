// Small process/port/file helpers shared by the e2e environment (TypeScript; plain node loads it through scripts/ts-hooks.mjs).
import { spawn, execFile, type ChildProcess, type ExecFileOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { openSync, closeSync, readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Parses scripts/tools/versions.env (KEY=VALUE, optional quotes, # comments). */
export function readVersions(): Record<string, string> {
  const text = readFileSync(join(REPO_ROOT, 'scripts', 'tools', 'versions.env'), 'utf8');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Ports are picked below the kernel's ephemeral range: a port from that range can be taken,
// between our check and the daemon's bind, as the source port of any outgoing connection
// (and a client polling a not-yet-listening port there can connect to itself). One CI run
// lost a kube-apiserver that way ("EOF" from its port for the whole --wait).
const [ephemeralLow = 32768] = (() => {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  } catch {
    return [32768];
  }
})();
const PORT_LOW = 20000,
  PORT_HIGH = Math.max(PORT_LOW + 1000, ephemeralLow - 1);
const handedOut = new Set<number>();

const canBind = (port: number, udp: boolean): Promise<boolean> =>
  new Promise((resolve) => {
    if (udp) {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '0.0.0.0', () => u.close(() => resolve(true)));
      return;
    }
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A free TCP port on 127.0.0.1 outside the ephemeral range, never handed out twice by this
 *  process (also checked free for UDP when udp=true). */
export async function freePort(udp = false): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW + 1));
    if (handedOut.has(port)) continue;
    if (!(await canBind(port, false))) continue;
    if (udp && !(await canBind(port, true))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${PORT_LOW}-${PORT_HIGH}`);
}

/**
 * Runs a command to completion; rejects with stderr on non-zero exit.
 * Never puts secrets in argv from callers (keys go through files/stdin).
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 << 20, timeout: opts.timeout ?? 120_000, ...opts }, (err, stdout, stderr) => {
      if (err) {
        const e: RunError = new Error(
          `${cmd} ${args.join(' ')} failed (${err.code ?? err.signal}): ${String(stderr).trim() || String(stdout).trim()}`,
        );
        e.stdout = stdout;
        e.stderr = stderr;
        e.code = err.code;
        reject(e);
      } else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) {
      child.stdin?.end(opts.input);
    }
  });
}

let defaultPidDir = '';
/** Directory where daemon() records the pids it starts (one empty-ish file per pid). */
export function setPidDir(dir: string): void {
  defaultPidDir = dir;
}

/** Live daemons started by this process: killed on stop and on process exit. */
const live = new Set<ChildProcess>();
let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const p of live) {
      try {
        process.kill(-(p.pid ?? 0), 'SIGKILL');
      } catch {
        try {
          p.kill('SIGKILL');
        } catch {}
      }
    }
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      for (const f of exitHooks) {
        try {
          f();
        } catch {}
      }
      process.exit(130);
    });
  }
}
/** Synchronous hooks run on process exit (e.g. `kwokctl delete cluster`). */
export const exitHooks = new Set<() => void>();
process.on('exit', () => {
  for (const f of exitHooks) {
    try {
      f();
    } catch {}
  }
});

/**
 * Starts a long-running daemon with stdout+stderr appended to logFile.
 * It gets its own process group (so its children die with it) and is tracked for exit cleanup.
 */
export function daemon(cmd: string, args: string[], { logFile, env, cwd, pidDir }: DaemonOptions): Daemon {
  hookExit();
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env, cwd, detached: true });
  closeSync(fd);
  live.add(child);
  // recorded so a later run can kill it by pid if this process dies without teardown
  const dir = pidDir ?? defaultPidDir;
  if (dir && child.pid) {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, String(child.pid)), cmd);
    } catch {}
  }
  const exited = new Promise<DaemonExit>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  const pid = child.pid ?? 0;
  return {
    child,
    pid,
    exited,
    async stop(timeoutMs = 5000): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {}
      const t = setTimeout(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {}
      }, timeoutMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls fn until it returns a truthy value (or throws the last error at timeout). */
export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  { timeoutMs = 60_000, intervalMs = 250 } = {},
): Promise<NonNullable<T>> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if ((e as { fatal?: boolean } | undefined)?.fatal) throw e;
      last = e;
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** The first line of an error's message (a Kubernetes API error's body message first). */
export const errText = (e: unknown): string => {
  const err = e as { body?: { message?: string }; message?: string } | undefined;
  return String(err?.body?.message ?? err?.message ?? e).split('\n')[0] ?? '';
};

export function tail(file: string, n = 30): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
}

export interface RunOptions extends ExecFileOptions {
  /** written to the command's stdin */
  input?: string;
}
/** A failed run(): the command's output and exit code ride on the error. */
export interface RunError extends Error {
  stdout?: string | Buffer;
  stderr?: string | Buffer;
  code?: number | string | null;
}
export interface DaemonOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  pidDir?: string;
}
export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}
export interface Daemon {
  child: ChildProcess;
  pid: number;
  exited: Promise<DaemonExit>;
  stop(timeoutMs?: number): Promise<void>;
}
