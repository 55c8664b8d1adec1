// Environments whose owning process died without teardown (e.g. a SIGKILLed vitest worker):
// kwokctl's components are reparented to init and would leak, so the next start removes them.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Deletes the clusters, daemons and dirs of every `jte-*` environment whose owner.pid is gone. */
export function sweepStale(kwokctl: string, cacheDir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((d) => d.startsWith('jte-'));
  } catch {
    return;
  }
  for (const d of entries) {
    const root = join(tmpdir(), d);
    let pid: number;
    try {
      pid = Number(readFileSync(join(root, 'owner.pid'), 'utf8'));
    } catch {
      continue;
    }
    try {
      process.kill(pid, 0);
      continue;
    } catch {}
    const clusters = join(root, 'kwok', 'clusters');
    for (const c of existsSync(clusters) ? readdirSync(clusters) : []) {
      try {
        execFileSync(kwokctl, ['delete', 'cluster', '--name', c], {
          env: { ...process.env, KWOK_WORKDIR: join(root, 'kwok') },
          stdio: 'ignore',
          timeout: 60_000,
        });
      } catch {}
    }
    // daemons the dead owner started (recorded by pid); kill only if the pid still runs our binary
    const pids = join(root, 'pids');
    for (const p of existsSync(pids) ? readdirSync(pids) : []) {
      try {
        const exe = readFileSync(join(pids, p), 'utf8');
        const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0];
        if (cmdline === exe) process.kill(-Number(p), 'SIGKILL');
      } catch {}
    }
    rmSync(root, { recursive: true, force: true });
    rmSync(join(cacheDir, 'run', d), { recursive: true, force: true });
  }
}
