// Real tailscaled in userspace-networking mode + `tailscale up`, one per simulated node.
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { daemon, freePort, run, waitFor, tail } from './util.mjs';

/** Env every tailscaled/tailscale gets: no log upload; DERP over plain HTTP (headscale's
 *  embedded DERP is served on the http:// server_url, and clients dial DERP with TLS unless told). */
export function tailscaleEnv(base = process.env) {
  return { ...base, TS_NO_LOGS_NO_SUPPORT: 'true', TS_DEBUG_USE_DERP_HTTP: '1', TS_LOGS_DIR: undefined };
}

/**
 * @param {{bin:string, cli:string, dir:string, logFile:string, stateDir?:string}} o
 *   stateDir: persistent state (node identity survives restarts); absent: --state=mem: (ephemeral)
 */
export async function startTailscaled({ bin, cli, dir, logFile, stateDir }) {
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'tailscaled.sock');
  const args = ['--tun=userspace-networking', `--socket=${socket}`, `--port=${await freePort(true)}`];
  if (stateDir) { mkdirSync(stateDir, { recursive: true }); args.push(`--statedir=${stateDir}`); }
  else args.push('--state=mem:', `--statedir=${join(dir, 'var')}`);
  const env = tailscaleEnv();
  const proc = daemon(bin, args, { logFile, env });
  const ts = {
    socket, proc, dir,
    /** runs `tailscale --socket=… <args>` */
    cli: async (a, opts = {}) => (await run(cli, [`--socket=${socket}`, ...a], { env, timeout: 60_000, ...opts })).stdout,
    async status() { return JSON.parse(await ts.cli(['status', '--json'])); },
    /** `tailscale up` with the key passed as file:… (never in argv). */
    async up({ loginServer, authKey, hostname, timeoutSec = 30, extra = [] }) {
      const keyFile = join(dir, 'authkey');
      writeFileSync(keyFile, authKey, { mode: 0o600 });
      try {
        return await ts.cli(['up', `--login-server=${loginServer}`, `--auth-key=file:${keyFile}`, `--hostname=${hostname}`, `--timeout=${timeoutSec}s`, '--accept-dns=false', ...extra], { timeout: (timeoutSec + 15) * 1000 });
      } finally { rmSync(keyFile, { force: true }); }
    },
    async stop() { await proc.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
  await waitFor(`tailscaled socket ${socket}`, async () => {
    if (proc.child.exitCode !== null) throw Object.assign(new Error(`tailscaled exited:\n${tail(logFile, 15)}`), { fatal: true });
    await ts.cli(['status', '--json']);
    return true;
  }, { timeoutMs: 20_000, intervalMs: 100 });
  return ts;
}
