// The kubectl CLI, for the few reads the API client does not do for june-ts: permission
// checks (`auth can-i`, also impersonating a ServiceAccount), recent warning events and a
// container's last log lines, a sidecar's prefs. Everything goes through the ProcessRunner; all
// of it is read-only, and all but the exec is retried on a transient API failure.
import { runRetried, type CommandRetry } from '../process/retry-command.js';
import type { ProcessRunner } from '../process/runner.js';

export interface Kubectl {
  /** `kubectl version --client`; throws when kubectl cannot be run. */
  clientVersion(): Promise<void>;
  /** `kubectl auth can-i`; false when the answer is no or kubectl fails. */
  canI(verb: string, resource: string, namespace?: string, as?: string): Promise<boolean>;
  /** Warning events of a namespace, one `<object>: <reason>: <message>` line each. */
  warningEvents(namespace: string): Promise<string[]>;
  /** The last `tail` log lines of a Deployment's container; [] when there are none to read. */
  logs(namespace: string, deployment: string, container: string, tail: number): Promise<string[]>;
  /** `tailscale debug prefs` inside a Deployment's sidecar (one pod of it): its stdout, or the error. */
  sidecarPrefs(namespace: string, deployment: string, container: string): Promise<{ ok: boolean; text: string }>;
}

export interface KubectlOptions {
  bin: string;
  kubeconfig: string | undefined;
  context: string | undefined;
  runner: ProcessRunner;
  /** Retries on a transient API failure (default: the API budget); every call here is a read. */
  retry?: CommandRetry;
}

const EVENT_LINES = 'jsonpath={range .items[*]}{.involvedObject.name}: {.reason}: {.message}{"\\n"}{end}';

export class KubectlCli implements Kubectl {
  constructor(private readonly o: KubectlOptions) {}

  private run(...args: string[]) {
    const flags = [
      ...(this.o.kubeconfig ? ['--kubeconfig', this.o.kubeconfig] : []),
      ...(this.o.context ? ['--context', this.o.context] : []),
    ];
    return runRetried(this.o.runner, this.o.bin, [...flags, ...args], { allowFailure: true }, this.o.retry);
  }

  async clientVersion(): Promise<void> {
    await this.o.runner.run(this.o.bin, ['version', '--client', '-o', 'json']);
  }

  async canI(verb: string, resource: string, namespace?: string, as?: string): Promise<boolean> {
    const res = await this.run('auth', 'can-i', verb, resource, ...(namespace ? ['-n', namespace] : []), ...(as ? [`--as=${as}`] : []));
    return res.stdout.trim() === 'yes';
  }

  async warningEvents(namespace: string): Promise<string[]> {
    const res = await this.run('-n', namespace, 'get', 'events', '--field-selector', 'type=Warning', '-o', EVENT_LINES);
    return res.stdout.split('\n');
  }

  async logs(namespace: string, deployment: string, container: string, tail: number): Promise<string[]> {
    const res = await this.run('-n', namespace, 'logs', `deployment/${deployment}`, '-c', container, `--tail=${tail}`);
    return res.exitCode === 0 ? res.stdout.trim().split('\n') : [];
  }

  async sidecarPrefs(namespace: string, deployment: string, container: string): Promise<{ ok: boolean; text: string }> {
    const flags = [
      ...(this.o.kubeconfig ? ['--kubeconfig', this.o.kubeconfig] : []),
      ...(this.o.context ? ['--context', this.o.context] : []),
    ];
    const argv = [...flags, '-n', namespace, 'exec', `deployment/${deployment}`, '-c', container, '--', 'tailscale', 'debug', 'prefs'];
    const res = await this.o.runner.run(this.o.bin, argv, { allowFailure: true });
    return res.exitCode === 0
      ? { ok: true, text: res.stdout }
      : { ok: false, text: (res.stderr || res.stdout).trim().split('\n')[0] ?? '' };
  }
}
