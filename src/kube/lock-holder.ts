// Who holds the run lock: the Lease holder identity of this process, and whether a holder
// written by another run is a process known to be gone. Light (no client-node): the run lock
// builds its identity before the Kubernetes client loads.
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * The holder identity of this process: `<hostname>/<pid>/<command>/<scope>`. A pid means
 * something only inside one pid namespace of one boot, and two containers can share a
 * hostname, so the scope is the boot id plus the pid namespace's inode (Linux), or the
 * hostname where there are no pid namespaces to tell apart.
 */
export function runLockHolder(command: string, scope: string = processScope()): string {
  return `${hostname()}/${process.pid}/${command}/${scope}`;
}

export function processScope(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): string {
  try {
    const boot = read('/proc/sys/kernel/random/boot_id').trim();
    const pidNs = /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
    if (boot && pidNs) return `boot=${boot},pidns=${pidNs}`;
  } catch {
    /* no /proc: no pid namespaces either */
  }
  return `host=${hostname()}`;
}

/**
 * A run whose process is gone (it died, or failed while the API server was down and could
 * not release the lock) holds nothing: its Lease is taken over at once instead of after
 * leaseDurationSeconds. That can be known only for a holder in this process's own scope
 * (same boot, same pid namespace); any other holder, or one written in the older
 * `<host>/<pid>/<command>` form, is waited out.
 */
export function holderGone(other: string, self: string, alive: (pid: number) => boolean = processAlive): boolean {
  const [, pid, , scope, ...rest] = other.split('/');
  const selfScope = self.split('/')[3];
  return rest.length === 0 && Boolean(scope) && scope === selfScope && /^\d+$/.test(pid ?? '') && Number(pid) > 0 && !alive(Number(pid));
}

/** Is process `pid` alive on this host? (EPERM: it is, as another user.) */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
