// The Helm seam: every helm invocation goes through the ProcessRunner; writes through the gate.
// Values are passed as a 0600 file (never --set), and Helm 3 / Helm 4 flag differences live here.
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExternalError, PreflightError, UsageError } from '../errors.js';
import type { WriteGate } from '../write-gate.js';
import { runRetried, type CommandRetry } from '../process/retry-command.js';
import type { ProcessRunner, RunOptions } from '../process/runner.js';
import { parseReleaseList, parseValues } from './schemas.js';
import type { HelmClient, ReleaseInfo, UpgradeRequest } from './types.js';

export interface HelmOptions {
  bin: string;
  kubeconfig?: string;
  context?: string;
  runner: ProcessRunner;
  gate: WriteGate;
  /** Retries of the read-only commands on a transient API failure (default: the API budget). */
  retry?: CommandRetry;
}

const timeoutFlag = (ms: number) => ['--timeout', `${Math.round(ms / 1000)}s`];

/** The read under `key` in `reads`, started on first use; a failed read is forgotten so the next caller tries again. */
function remembered<T>(reads: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> {
  let p = reads.get(key);
  if (!p) {
    p = read();
    reads.set(key, p);
    p.catch(() => reads.delete(key));
  }
  return p;
}

export class HelmCli implements HelmClient {
  private majorVersion: Promise<3 | 4> | undefined;
  private readonly releaseReads = new Map<string, Promise<ReleaseInfo | null>>();
  private readonly valuesReads = new Map<string, Promise<Record<string, unknown> | null>>();
  constructor(private readonly o: HelmOptions) {}

  /** A read-only helm command (version, list, get): safe to repeat, so retried on a transient API failure. */
  private read(args: string[], options?: RunOptions) {
    return runRetried(this.o.runner, this.o.bin, args, options, this.o.retry);
  }

  private kubeFlags(): string[] {
    return [
      ...(this.o.kubeconfig ? ['--kubeconfig', this.o.kubeconfig] : []),
      ...(this.o.context ? ['--kube-context', this.o.context] : []),
    ];
  }

  major(): Promise<3 | 4> {
    this.majorVersion ??= (async () => {
      const { stdout } = await this.read(['version', '--template', '{{.Version}}']);
      const m = /^v(\d+)\./.exec(stdout.trim());
      const major = m ? Number(m[1]) : NaN;
      if (major !== 3 && major !== 4) {
        throw new PreflightError(`unsupported Helm version ${stdout.trim() || '(unknown)'}`, { hint: 'install Helm 3 (≥3.12) or Helm 4' });
      }
      return major;
    })();
    return this.majorVersion;
  }

  /**
   * One `helm list` per release and run: preflight's read (is it stuck mid-operation?) also
   * serves the phase that upgrades it seconds later. Forgotten on every write june-ts makes
   * to it, so the undo after a failed upgrade sees what Helm recorded. (A human's helm run
   * landing in between is not seen here; Helm's own pending-* guard still refuses ours.)
   */
  release(release: string, namespace: string): Promise<ReleaseInfo | null> {
    return remembered(this.releaseReads, `${namespace}/${release}`, () => this.readRelease(release, namespace));
  }

  private forget(release: string, namespace: string): void {
    this.releaseReads.delete(`${namespace}/${release}`);
    this.valuesReads.delete(`${namespace}/${release}`);
  }

  private async readRelease(release: string, namespace: string): Promise<ReleaseInfo | null> {
    const { stdout } = await this.read([
      'list', '--namespace', namespace, '--deployed', '--failed', '--pending', '--filter', `^${release}$`, '--output', 'json', ...this.kubeFlags(),
    ]);
    const found = parseReleaseList(stdout).find((r) => r.name === release);
    return found ?? null;
  }

  /** Read once per release and run like release(): preflight's check of the services and the upgrade share it. */
  values(release: string, namespace: string): Promise<Record<string, unknown> | null> {
    return remembered(this.valuesReads, `${namespace}/${release}`, () => this.readValues(release, namespace));
  }

  private async readValues(release: string, namespace: string): Promise<Record<string, unknown> | null> {
    const res = await this.read(['get', 'values', release, '--namespace', namespace, '--output', 'json', ...this.kubeFlags()], {
      allowFailure: true,
    });
    if (res.exitCode !== 0) {
      if (/not found/i.test(res.stderr)) return null;
      throw new ExternalError(`helm get values ${release} failed: ${res.stderr.trim()}`, { stderr: res.stderr, exitCode: res.exitCode });
    }
    return parseValues(res.stdout);
  }

  async chartRef(chart: string): Promise<string> {
    let text: string;
    try {
      text = await readFile(join(chart, 'Chart.yaml'), 'utf8');
    } catch {
      throw new UsageError(`no Helm chart at ${chart} (Chart.yaml not found)`, {
        hint: 'set PLATFORM_CHART / HEADSCALE_CHART to a chart directory',
      });
    }
    const name = /^name:\s*["']?([^"'\s]+)/m.exec(text)?.[1];
    const version = /^version:\s*["']?([^"'\s]+)/m.exec(text)?.[1];
    if (!name || !version) throw new UsageError(`${chart}/Chart.yaml has no name or version`, { hint: 'fix the chart metadata' });
    return `${name}-${version}`;
  }

  /**
   * Applies the chart and returns without waiting: the caller waits for the rollout itself
   * (concurrently, through the Kubernetes seam) and rolls back on failure, rather than
   * Helm's own --wait (Helm 4's watcher is forced on by --rollback-on-failure and is slow
   * for many Deployments; Helm 3's --atomic polls every 2 s).
   */
  async upgradeInstall(req: UpgradeRequest): Promise<void> {
    const flags = ['--namespace', req.namespace, '--create-namespace', ...timeoutFlag(req.timeoutMs), ...this.kubeFlags()];
    await this.o.gate.write(
      { kind: 'helm', action: 'upgrade --install', release: req.release, namespace: req.namespace, chart: req.chart, values: req.values, flags },
      async () => {
        const dir = await mkdtemp(join(tmpdir(), 'june-ts-values-'));
        const file = join(dir, 'values.json');
        try {
          await writeFile(file, JSON.stringify(req.values), { mode: 0o600 });
          await this.o.runner.run(this.o.bin, ['upgrade', '--install', req.release, req.chart, '--values', file, ...flags]);
          this.forget(req.release, req.namespace);
          // the release's user values are now exactly the one values file passed (no --reuse-values)
          this.valuesReads.set(`${req.namespace}/${req.release}`, Promise.resolve(structuredClone(req.values)));
        } catch (e) {
          this.forget(req.release, req.namespace);
          throw e;
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
      undefined,
    );
  }

  async rollback(release: string, namespace: string, revision: number, timeoutMs: number): Promise<void> {
    const flags = ['--namespace', namespace, ...timeoutFlag(timeoutMs), ...this.kubeFlags()];
    await this.o.gate.write({ kind: 'helm', action: 'rollback', release, namespace, flags: [String(revision), ...flags] }, async () => {
      try {
        await this.o.runner.run(this.o.bin, ['rollback', release, String(revision), ...flags]);
      } finally {
        this.forget(release, namespace);
      }
    }, undefined);
  }

  async uninstall(release: string, namespace: string, timeoutMs: number): Promise<boolean> {
    const flags = ['--namespace', namespace, '--wait', ...timeoutFlag(timeoutMs), ...this.kubeFlags()];
    return this.o.gate.write(
      { kind: 'helm', action: 'uninstall', release, namespace, flags },
      async () => {
        const res = await this.o.runner.run(this.o.bin, ['uninstall', release, ...flags], { allowFailure: true }).finally(() => this.forget(release, namespace));
        if (res.exitCode === 0) return true;
        if (/not found/i.test(res.stderr)) return false;
        throw new ExternalError(`helm uninstall ${release} failed: ${res.stderr.trim()}`, { stderr: res.stderr, exitCode: res.exitCode });
      },
      true,
    );
  }
}
