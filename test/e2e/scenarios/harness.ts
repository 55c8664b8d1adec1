// Shared by the june-ts end-to-end scenarios: one real environment per test file
// (kube-apiserver + kwok, headscale, tailscaled sidecars), and a way to run the BUILT
// june-ts binary against it exactly as an operator would, with every external binary
// wrapped by a recorder that logs argv and environment (for the secrets scan).
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveTools, startEnv, type E2EEnv } from '../env/index.js';

export const REPO = resolve(import.meta.dirname, '..', '..', '..');
export const BIN = join(REPO, 'bin', 'june-ts.js');
export const TAILNET = 'tail.june.test';

const { missing } = resolveTools();
/** Under CI=true a missing tool is a failure, never a skip. */
export const canRun = missing.length === 0 || process.env.CI === 'true';
if (missing.length && process.env.CI !== 'true') console.warn(`e2e scenarios skipped locally, missing: ${missing.join(', ')}`);

export interface JuneResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Scenario {
  env: E2EEnv;
  dir: string;
  configPath: string;
  /** Every argv/env the recorder saw, and every stdout/stderr june-ts printed. */
  transcript: string[];
  june(
    args: string[],
    o?: {
      env?: Record<string, string>;
      input?: string;
      timeoutMs?: number;
      signalAfterMs?: number;
      config?: string;
      /** Run it in a pseudo-terminal of 160 columns (util-linux `script`): stdout is the screen. */
      pty?: boolean;
    },
  ): Promise<JuneResult>;
  /**
   * Runs june-ts until its first external command matching `pattern`, pauses that command,
   * runs `action` (with the june-ts child's pid), then lets the command go on.
   */
  juneWithPause(
    args: string[],
    pattern: string,
    action: (pid: number) => Promise<void>,
    o?: { env?: Record<string, string> },
  ): Promise<JuneResult & { paused: boolean }>;
  writeConfig(extra?: Record<string, string>, path?: string): string;
  recordedCalls(): string;
  /** Every Secret value this scenario has read (keys minted over the whole run, rotated ones too). */
  seenKeys(): string[];
  headscaleJson<T = unknown>(args: string[]): Promise<T>;
  secret(name?: string): Promise<{
    data: Record<string, string>;
    resourceVersion: string;
    annotations: Record<string, string>;
    labels: Record<string, string>;
  } | null>;
  stop(): Promise<void>;
}

const WRAPPED = ['kubectl', 'helm', 'tailscale', 'headscale'];

function writeRecorder(dir: string, binDir: string, log: string): string {
  const wrap = join(dir, 'recorded-bin');
  mkdirSync(wrap, { recursive: true });
  for (const tool of WRAPPED) {
    // Fault injection: when $JUNE_E2E_PAUSE_DIR/armed exists and the command line matches
    // the regex in it, the call pauses (writes paused, waits for resume), so a test can stop
    // Headscale or send SIGINT at an exact point of a run.
    const script = `#!/usr/bin/env bash
{ printf 'ARGV %s' ${JSON.stringify(tool)}; printf ' %q' "$@"; printf '\\n'; env | sed 's/^/ENV /'; } >> ${JSON.stringify(log)}
if [ -n "\${JUNE_E2E_PAUSE_DIR:-}" ] && [ -f "$JUNE_E2E_PAUSE_DIR/armed" ]; then
  if printf '%s ' ${JSON.stringify(tool)} "$@" | grep -Eq -- "$(cat "$JUNE_E2E_PAUSE_DIR/armed")" && mv "$JUNE_E2E_PAUSE_DIR/armed" "$JUNE_E2E_PAUSE_DIR/paused" 2>/dev/null; then
    for _ in $(seq 600); do [ -f "$JUNE_E2E_PAUSE_DIR/resume" ] && break; sleep 0.1; done
  fi
fi
exec ${JSON.stringify(join(binDir, tool))} "$@"
`;
    writeFileSync(join(wrap, tool), script);
    chmodSync(join(wrap, tool), 0o755);
  }
  return wrap;
}

/**
 * headscaleServer 'chart': Headscale is what phase 11 deploys (the chart's pod, run by the env's
 * kubelet, its PVC a directory); default 'process': the env's own server stands for an existing
 * external Headscale, and the chart's pod runs nothing.
 */
export async function startScenario(
  name: string,
  configExtra: Record<string, string> = {},
  o: { headscaleServer?: 'process' | 'chart'; headscaleVersion?: string } = {},
): Promise<Scenario> {
  // unique per process: two suites (or two people) may run at once on one machine
  const env = await startEnv({ name: `${name}-${process.pid}`, headscaleServer: o.headscaleServer, headscaleVersion: o.headscaleVersion });
  const dir = mkdtempSync(join(tmpdir(), `june-e2e-${name}-`));
  const callLog = join(dir, 'calls.log');
  const wrapDir = writeRecorder(dir, env.binDir, callLog);
  const transcript: string[] = [];
  const base: Record<string, string> = {
    HEADSCALE_URL: env.headscale.url,
    TAILNET_DOMAIN: TAILNET,
    KUBECONFIG: env.kubeconfig,
    KUBE_CONTEXT: env.context,
    TAILSCALE_SOCKET: env.host.socket,
    HOST_HOSTNAME: 'june-e2e-host',
    WAIT_TIMEOUT: '120s',
    HEADSCALE_VALUES: join(dir, 'headscale-values.yaml'),
  };
  // 'process': nothing binds the chart's PVC (the env provisions volumes only for pods it runs)
  writeFileSync(
    join(dir, 'headscale-values.yaml'),
    // 'process': the chart's image tag is the running server's version, so phase 11 finds it
    // current and plans no upgrade steps
    env.headscale.server === 'chart'
      ? env.headscale.chartValues
      : `persistence:\n  enabled: false\nimage:\n  tag: "${env.headscale.version.replace(/^v/, '')}"\n`,
  );
  const writeConfig = (extra: Record<string, string> = {}, path = join(dir, 'config.env')) => {
    const all = { ...base, ...configExtra, ...extra };
    writeFileSync(
      path,
      Object.entries(all)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    return path;
  };
  const configPath = writeConfig();

  let lastChild: ReturnType<typeof spawn> | undefined;
  const june: Scenario['june'] = (args, o = {}) =>
    new Promise((resolveRun) => {
      const argv = args.includes('--config') ? args : [...args, '--config', o.config ?? configPath];
      // KUBECONFIG comes from the config file, so a test can point it elsewhere (env would win)
      const { KUBECONFIG: _k, ...childEnv } = env.env;
      const quoted = [process.execPath, BIN, ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const [cmd, cmdArgs] = o.pty
        ? ['script', ['-qfec', `stty cols 160 rows 50; exec ${quoted}`, '/dev/null']]
        : [process.execPath, [BIN, ...argv]];
      const child = spawn(cmd, cmdArgs, {
        cwd: dir,
        env: { ...childEnv, PATH: `${wrapDir}:${env.env.PATH}`, NO_COLOR: '1', ...o.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      lastChild = child;
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.stdin.end(o.input ?? '');
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 300_000);
      if (o.signalAfterMs !== undefined) setTimeout(() => child.kill('SIGINT'), o.signalAfterMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        transcript.push(`$ june-ts ${args.join(' ')}\n${stdout}\n${stderr}`);
        resolveRun({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });

  const juneWithPause: Scenario['juneWithPause'] = async (args, pattern, action, o = {}) => {
    const pauseDir = mkdtempSync(join(dir, 'pause-'));
    writeFileSync(join(pauseDir, 'armed'), pattern);
    const running = june(args, { env: { ...o.env, JUNE_E2E_PAUSE_DIR: pauseDir } });
    let paused = false;
    const deadline = Date.now() + 120_000;
    let settled = false;
    void running.then(() => (settled = true));
    while (!settled && Date.now() < deadline) {
      if (existsSync(join(pauseDir, 'paused'))) {
        paused = true;
        await action(lastChild!.pid!);
        writeFileSync(join(pauseDir, 'resume'), '');
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return { ...(await running), paused };
  };

  const headscaleJson = async <T>(args: string[]): Promise<T> =>
    JSON.parse((await env.headscale.cli([...args, '-o', 'json'])) || 'null') as T;

  const seen = new Set<string>();
  const secret: Scenario['secret'] = async (secretName = 'headscale-auth-keys') => {
    try {
      const s = JSON.parse(await env.kubectl(['-n', 'june-services', 'get', 'secret', secretName, '-o', 'json']));
      const data = Object.fromEntries(
        Object.entries((s.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
      );
      if (secretName === 'headscale-auth-keys') for (const v of Object.values(data)) if (v.length >= 16) seen.add(v);
      return {
        data,
        resourceVersion: s.metadata.resourceVersion,
        annotations: s.metadata.annotations ?? {},
        labels: s.metadata.labels ?? {},
      };
    } catch (e) {
      if (/NotFound|not found/.test(String(e))) return null;
      throw e;
    }
  };

  return {
    env,
    dir,
    configPath,
    transcript,
    june,
    juneWithPause,
    writeConfig,
    recordedCalls: () => (existsSync(callLog) ? readFileSync(callLog, 'utf8') : ''),
    seenKeys: () => [...seen],
    headscaleJson,
    secret,
    stop: async () => {
      await env.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every key Headscale minted in this environment (CLI listing per user on < 0.28 shows full keys). */
export function expectNoSecretIn(haystack: string, secrets: readonly string[]): string[] {
  return secrets.filter((s) => s.length >= 8 && haystack.includes(s));
}
