// The run lock between processes that share a hostname but not a pid namespace (two
// containers with the same hostname): june-ts runs in pid namespaces of its own
// (`unshare --pid --fork --mount-proc --uts`, as root) under one hostname. A pid seen in
// another pid namespace means nothing here, so such a holder is never declared dead early;
// a dead holder of this pid namespace still is.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, canRun, startScenario, type JuneResult, type Scenario } from './harness.js';

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', '--uts', 'true']).status === 0;
const HOST = 'june-same-host';

interface Run {
  result: Promise<JuneResult>;
  /** SIGKILL the whole pid namespace (unshare --kill-child). */
  kill(): void;
}

describe.skipIf(!canRun || !canUnshare)('run lock across pid namespaces with one hostname', () => {
  let s: Scenario;
  let config: string;

  const lease = async () => {
    const out = await s.env.kubectl([
      '-n',
      'default',
      'get',
      'lease',
      'june-ts-lock',
      '--ignore-not-found',
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ]);
    return out.trim();
  };

  /**
   * june-ts in a new pid and UTS namespace named HOST. `asPid1`: node is the namespace's pid 1
   * (exec); otherwise a later pid, which does not exist in a namespace where node is pid 1.
   * With `pauseDir`, its first helm call after the lock is taken waits for `resume` there.
   */
  function juneInNamespace(args: string[], o: { asPid1: boolean; pauseDir?: string }): Run {
    const node = JSON.stringify(process.execPath);
    const script = o.asPid1
      ? `hostname ${HOST} && exec ${node} ${JSON.stringify(BIN)} "$@"`
      : `hostname ${HOST} && ${node} ${JSON.stringify(BIN)} "$@"; exit $?`;
    const { KUBECONFIG: _k, ...childEnv } = s.env.env;
    const child = spawn(
      'unshare',
      ['--pid', '--fork', '--mount-proc', '--uts', '--kill-child', 'sh', '-c', script, 'sh', ...args, '--config', config],
      {
        cwd: s.dir,
        env: { ...childEnv, NO_COLOR: '1', ...(o.pauseDir ? { PAUSE_DIR: o.pauseDir } : {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    const result = new Promise<JuneResult>((r) =>
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        r({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      }),
    );
    return { result, kill: () => child.kill('SIGKILL') };
  }

  async function waitPaused(dir: string, run: Run) {
    let settled = false;
    void run.result.then(() => (settled = true));
    for (let i = 0; i < 1200 && !settled; i++) {
      if (existsSync(join(dir, 'paused'))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`never paused: ${JSON.stringify(await run.result)}`);
  }

  function pauseDir(): string {
    const dir = mkdtempSync(join(s.dir, 'pause-'));
    writeFileSync(join(dir, 'armed'), '');
    return dir;
  }

  beforeAll(async () => {
    s = await startScenario('lock');
    // helm that, while $PAUSE_DIR/armed exists, stops at its first release read (after the lock is taken)
    const helm = join(s.dir, 'pausing-helm');
    writeFileSync(
      helm,
      `#!/bin/sh
if [ -n "$PAUSE_DIR" ] && [ -f "$PAUSE_DIR/armed" ] && printf '%s ' "$@" | grep -Eq '^(list|get|status|upgrade) ' && mv "$PAUSE_DIR/armed" "$PAUSE_DIR/paused" 2>/dev/null; then
  while [ ! -f "$PAUSE_DIR/resume" ]; do sleep 0.1; done
fi
exec ${JSON.stringify(join(s.env.binDir, 'helm'))} "$@"
`,
    );
    chmodSync(helm, 0o755);
    config = s.writeConfig({ HELM: helm }, join(s.dir, 'lock.env'));
    const r = await s.june(['install'], { config });
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('a second run in another pid namespace with the same hostname is refused while the first holds the lock', async () => {
    const dir = pauseDir();
    const first = juneInNamespace(['deploy-sidecars'], { asPid1: false, pauseDir: dir });
    await waitPaused(dir, first);
    const holder = await lease();
    // the first holder's pid (not 1) does not exist in the second's namespace, where node is pid 1:
    // keyed on hostname + pid alone, the second would declare it dead and take the lock
    expect(holder).toMatch(new RegExp(`^${HOST}/([2-9]|\\d{2,})/deploy-sidecars/boot=[0-9a-f-]{36},pidns=\\d+$`));
    const second = await juneInNamespace(['deploy-sidecars'], { asPid1: true }).result;
    expect(second.code, second.stderr).toBe(2);
    expect(second.stderr).toContain(`another june-ts run holds the lock (Lease default/june-ts-lock, holder ${holder})`);
    expect(await lease()).toBe(holder);
    writeFileSync(join(dir, 'resume'), '');
    const done = await first.result;
    expect(done.code, done.stderr).toBe(0);
    expect(await lease()).toBe('');
  });

  it('a lock left by a dead process of another pid namespace is waited out, then taken over once stale', async () => {
    const dir = pauseDir();
    const dying = juneInNamespace(['deploy-sidecars'], { asPid1: false, pauseDir: dir });
    await waitPaused(dir, dying);
    const holder = await lease();
    dying.kill(); // the whole namespace dies; nothing releases the Lease
    expect((await dying.result).code).not.toBe(0);
    expect(await lease()).toBe(holder);

    // another pid namespace cannot know that holder is dead: refused, with when it expires
    const refused = await juneInNamespace(['deploy-sidecars'], { asPid1: true }).result;
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`holder ${holder})`);
    expect(refused.stderr).toMatch(/its lock expires \d+s after its last renewal/);

    // the same holder, aged past leaseDurationSeconds (as if 2 minutes had passed): taken over
    const stale = new Date(Date.now() - 120_000).toISOString().replace('Z', '000Z');
    await s.env.kubectl([
      '-n',
      'default',
      'patch',
      'lease',
      'june-ts-lock',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { renewTime: stale } }),
    ]);
    const after = await juneInNamespace(['deploy-sidecars'], { asPid1: true }).result;
    expect(after.code, after.stderr).toBe(0);
    expect(await lease()).toBe('');
  });

  it('a lock left by a dead process of this pid namespace is taken over at once', async () => {
    const dir = pauseDir();
    const { KUBECONFIG: _k, ...childEnv } = s.env.env;
    const child = spawn(process.execPath, [BIN, 'deploy-sidecars', '--config', config], {
      cwd: s.dir,
      env: { ...childEnv, NO_COLOR: '1', PAUSE_DIR: dir },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.once('exit', r));
    for (let i = 0; i < 1200 && !existsSync(join(dir, 'paused')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(dir, 'paused'))).toBe(true);
    const holder = await lease();
    expect(holder.split('/')[1]).toBe(String(child.pid));
    child.kill('SIGKILL');
    await exited;
    writeFileSync(join(dir, 'resume'), ''); // lets the orphaned helm wrapper finish
    const t0 = Date.now();
    const r = await s.june(['deploy-sidecars'], { config });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(await lease()).toBe('');
  });
});
