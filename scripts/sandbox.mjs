#!/usr/bin/env node
// npm run sandbox:up / sandbox:down — the e2e environment (test/e2e/env) as a background
// daemon for manual work. State lives in $JUNE_TS_CACHE/sandbox (default ~/.cache/june-ts-e2e).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, startEnv } from '../test/e2e/env/load.mjs';

const dir = join(cacheDir, 'sandbox');
const stateFile = join(dir, 'state.json');
const daemonLog = join(dir, 'daemon.log');
const self = fileURLToPath(import.meta.url);
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function printExports(s) {
  console.log(`export KUBECONFIG=${s.kubeconfig}`);
  console.log(`export PATH=${s.binDir}:$PATH`);
  console.log(`export HEADSCALE_URL=${s.headscale.url}`);
  console.log(`export HEADSCALE_API_KEY_FILE=${s.headscale.apiKeyFile}`);
  console.log(`export HEADSCALE_CONFIG=${s.headscale.configPath}`);
  console.log(`export TS_HOST_SOCKET=${s.hostSocket} TS_HOST_PID=${s.hostPid}`);
  // june-ts reads these from the environment: `june-ts install` then works against the sandbox
  console.log(`export TAILNET_DOMAIN=tail.june.test TAILSCALE_SOCKET=${s.hostSocket}`);
  const values = join(dir, 'headscale-values.yaml');
  writeFileSync(values, '# kwok has no storage provisioner\npersistence:\n  enabled: false\n');
  console.log(`export HEADSCALE_VALUES=${values}`);
  console.log(`# headscale ${s.headscale.version}, helm ${s.helm}; host tailscaled: tailscale --socket=$TS_HOST_SOCKET status`);
  console.log(`# as the host (after june-ts install): nsenter -t ${s.hostPid} -n -m curl http://june-orchestrator.tail.june.test:8080/`);
  console.log('# a sidecar: kubectl -n june-services exec deployment/june-orchestrator -c tailscale -- tailscale status');
  console.log(`# logs: ${s.logsDir} (daemon: ${daemonLog}); started in ${s.startMs}ms; stop: npm run sandbox:down`);
}

async function up() {
  if (existsSync(stateFile)) {
    const s = JSON.parse(readFileSync(stateFile, 'utf8'));
    if (alive(s.pid)) {
      printExports(s);
      return;
    }
    await down(true);
  }
  mkdirSync(dir, { recursive: true });
  const fd = openSync(daemonLog, 'w');
  const child = spawn(process.execPath, [self, '__daemon'], { detached: true, stdio: ['ignore', fd, fd], env: process.env });
  child.unref();
  const t0 = Date.now();
  while (!existsSync(stateFile)) {
    if (!alive(child.pid)) {
      console.error(`sandbox failed to start:\n${readFileSync(daemonLog, 'utf8')}`);
      process.exit(1);
    }
    if (Date.now() - t0 > 300_000) {
      console.error('sandbox start timed out; see ' + daemonLog);
      process.exit(1);
    }
    await sleep(300);
  }
  printExports(JSON.parse(readFileSync(stateFile, 'utf8')));
}

async function daemon() {
  const env = await startEnv({ name: 'sandbox', stateDir: join(dir, 'state'), logsDir: join(dir, 'logs') });
  writeFileSync(join(dir, 'apikey'), env.headscale.apiKey, { mode: 0o600 });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await env.stop();
    rmSync(stateFile, { force: true });
    process.exit(0);
  };
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  writeFileSync(
    stateFile,
    JSON.stringify(
      {
        pid: process.pid,
        kubeconfig: env.kubeconfig,
        context: env.context,
        binDir: env.binDir,
        helm: env.helmMajor,
        logsDir: env.logsDir,
        startMs: env.startMs,
        hostSocket: env.host.socket,
        hostPid: env.host.pid,
        kwokWorkDir: join(env.root, 'kwok'),
        name: env.name,
        kwokctl: env.tools.kwokctl,
        headscale: {
          version: env.headscale.version,
          url: env.headscale.url,
          configPath: env.headscale.configPath,
          apiKeyFile: join(dir, 'apikey'),
        },
      },
      null,
      2,
    ),
  );
  console.log(`sandbox up (pid ${process.pid}) in ${env.startMs}ms`);
  setInterval(() => {}, 1 << 30);
}

async function down(quiet = false) {
  if (existsSync(stateFile)) {
    const s = JSON.parse(readFileSync(stateFile, 'utf8'));
    if (alive(s.pid)) {
      process.kill(s.pid, 'SIGTERM');
      const t0 = Date.now();
      while (alive(s.pid) && Date.now() - t0 < 60_000) await sleep(200);
      if (alive(s.pid)) process.kill(s.pid, 'SIGKILL');
    }
    // belt and braces: the cluster's components are kwokctl-managed background processes
    try {
      execFileSync(s.kwokctl, ['delete', 'cluster', '--name', s.name], {
        env: { ...process.env, KWOK_WORKDIR: s.kwokWorkDir },
        stdio: 'ignore',
      });
    } catch {
      // already gone: nothing to delete
    }
  }
  rmSync(dir, { recursive: true, force: true });
  if (!quiet) console.log(`sandbox down (removed ${dir})`);
}

const cmd = process.argv[2];
if (cmd === 'up') await up();
else if (cmd === 'down') await down();
else if (cmd === '__daemon') await daemon();
else {
  console.error('usage: node scripts/sandbox.mjs up|down');
  process.exit(2);
}
