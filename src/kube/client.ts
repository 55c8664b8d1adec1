// KubeClient over @kubernetes/client-node. Loaded only by commands that talk to a cluster.
import * as k8s from '@kubernetes/client-node';
import { ApiUnreachableError, ExternalError, InterruptedError, PreflightError } from '../errors.js';
import type { WriteGate } from '../write-gate.js';
import { loadKubeConfig } from './kubeconfig.js';
import { acquireLease } from './lease.js';
import { toPodInfo } from './mappers.js';
import { getDeployment, listDeployments, readDeployments, restartDeployment } from './deployments.js';
import {
  API_RETRY,
  PREFLIGHT_RETRY,
  RELEASE_RETRY,
  RetriesExhausted,
  describe,
  isConnectionError,
  realClock,
  statusOf,
  withRetry,
  type RetryHooks,
  type RetryPolicies,
} from './retry.js';
import type { KubeApi } from './api.js';
import { createPod, deletePods, getPod, getPodTemplate, podLogTail } from './pods.js';
import { applySecret, deleteSecret, getSecret, restoreSecret } from './secrets.js';
import { waitForRollout } from './rollout.js';
import type { ApplySecret, DeploymentInfo, KubeClient, PodInfo, PodManifest, PodTemplateSpec, SecretInfo } from './types.js';

const FIELD_MANAGER = 'june-ts';

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  gate: WriteGate;
  /** Retry budgets (tests shorten them); defaults API_RETRY, PREFLIGHT_RETRY, RELEASE_RETRY. */
  retry?: RetryPolicies;
  /** Ctrl-C ends a wait between retries at once (see RetryHooks.signal). */
  signal?: AbortSignal;
  /** Told about each retry; the CLI prints it under --verbose. */
  onRetry?: RetryHooks['onRetry'];
  /** Told what a rollout still waits for; the CLI's live view shows it. */
  onWait?: (text: string) => void;
}

export class ClientNodeKube implements KubeClient {
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly gate: WriteGate;
  private readonly retry: Required<RetryPolicies>;
  private readonly retryHooks: RetryHooks;
  private readonly onWait: ((text: string) => void) | undefined;
  private version: Promise<string> | undefined;

  constructor(options: KubeOptions) {
    this.gate = options.gate;
    this.retry = { api: API_RETRY, preflight: PREFLIGHT_RETRY, release: RELEASE_RETRY, ...options.retry };
    this.retryHooks = { signal: options.signal, onRetry: options.onRetry };
    this.onWait = options.onWait;
    this.kc = loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context });
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.apps = this.kc.makeApiClient(k8s.AppsV1Api);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(this.kc);
  }

  private withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(what, fn, this.retry.api, realClock, this.retryHooks);
  }

  private fail(action: string, e: unknown): never {
    if (e instanceof InterruptedError) throw e;
    if (e instanceof RetriesExhausted && isConnectionError(e)) {
      const server = this.kc.getCurrentCluster()?.server ?? '(unknown)';
      throw new ApiUnreachableError(
        `cannot reach the Kubernetes API server at ${server} (${action}): ${describe(e)}; gave up after ${e.attempts} attempts in ${(e.elapsedMs / 1000).toFixed(1)}s`,
        {
          hint: 'check that the API server is up and reachable (`kubectl cluster-info`), then re-run: steps already done are kept and not repeated',
          cause: e,
        },
      );
    }
    if (e instanceof RetriesExhausted) {
      throw new ExternalError(
        `${action}: ${describe(e)} (still failing after ${e.attempts} attempts in ${(e.elapsedMs / 1000).toFixed(1)}s)`,
        {},
        {
          hint: 'the API server is overloaded or unhealthy; check `kubectl get --raw /readyz?verbose`, then re-run',
          cause: e,
        },
      );
    }
    const code = statusOf(e);
    if (code === 401 || code === 403) {
      throw new ExternalError(
        `${action}: forbidden (${code}): ${describe(e)}`,
        {},
        {
          hint: 'your kubeconfig user lacks this permission; see "RBAC for operators" in the README',
        },
      );
    }
    throw new ExternalError(`${action}: ${describe(e)}`, {}, { cause: e });
  }

  /** Asked once per run (the lock and preflight both want it); a failure is asked again. */
  serverVersion(): Promise<string> {
    this.version ??= this.readServerVersion().catch((e: unknown) => {
      this.version = undefined;
      throw e;
    });
    return this.version;
  }

  private async readServerVersion(): Promise<string> {
    try {
      const v = await withRetry(
        'version',
        () => this.kc.makeApiClient(k8s.VersionApi).getCode(),
        this.retry.preflight,
        realClock,
        this.retryHooks,
      );
      return v.gitVersion;
    } catch (e) {
      if (e instanceof InterruptedError) throw e;
      const server = this.kc.getCurrentCluster()?.server ?? '(unknown)';
      throw new PreflightError(`cannot reach the Kubernetes API server at ${server}: ${describe(e)}`, {
        hint: 'check that the cluster is up and KUBECONFIG/KUBE_CONTEXT point at it (`kubectl cluster-info`)',
      });
    }
  }

  async namespaceExists(name: string): Promise<boolean> {
    try {
      await this.withRetry('namespace', () => this.core.readNamespace({ name }));
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      this.fail(`read namespace ${name}`, e);
    }
  }

  async namespaceDeletedAt(name: string): Promise<string | null> {
    try {
      const ns = await this.withRetry('namespace', () => this.core.readNamespace({ name }));
      return ns.metadata?.deletionTimestamp ? new Date(ns.metadata.deletionTimestamp).toISOString() : null;
    } catch (e) {
      if (statusOf(e) === 404) return null;
      this.fail(`read namespace ${name}`, e);
    }
  }

  async namespaceLabels(name: string): Promise<Record<string, string> | null> {
    try {
      const ns = await this.withRetry('namespace', () => this.core.readNamespace({ name }));
      return ns.metadata?.labels ?? {};
    } catch (e) {
      if (statusOf(e) === 404) return null;
      this.fail(`read namespace ${name}`, e);
    }
  }

  async ensureNamespace(name: string): Promise<void> {
    if (await this.namespaceExists(name)) return;
    await this.gate.write(
      { kind: 'apply', object: `Namespace/${name}`, manifest: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } },
      async () => {
        try {
          await this.withRetry('create namespace', () => this.core.createNamespace({ body: { metadata: { name } } }));
        } catch (e) {
          if (statusOf(e) !== 409) this.fail(`create namespace ${name}`, e);
        }
      },
      undefined,
    );
  }

  getSecret(namespace: string, name: string): Promise<SecretInfo | null> {
    return getSecret(this.api(), namespace, name);
  }

  applySecret(secret: ApplySecret): Promise<SecretInfo> {
    return applySecret(this.api(), secret);
  }

  restoreSecret(namespace: string, name: string, previous: SecretInfo | null): Promise<void> {
    return restoreSecret(this.api(), namespace, name, previous);
  }

  deleteSecret(namespace: string, name: string): Promise<boolean> {
    return deleteSecret(this.api(), namespace, name);
  }

  async getConfigMap(namespace: string, name: string): Promise<Record<string, string> | null> {
    try {
      const cm = await this.withRetry('configmap', () => this.core.readNamespacedConfigMap({ name, namespace }));
      return cm.data ?? {};
    } catch (e) {
      if (statusOf(e) === 404) return null;
      this.fail(`read ConfigMap ${namespace}/${name}`, e);
    }
  }

  getDeployment(namespace: string, name: string): Promise<DeploymentInfo | null> {
    return getDeployment(this.api(), namespace, name);
  }

  async listPods(namespace: string, labelSelector: string): Promise<PodInfo[]> {
    try {
      const list = await this.withRetry('pods', () => this.core.listNamespacedPod({ namespace, labelSelector }));
      return list.items.map(toPodInfo);
    } catch (e) {
      this.fail(`list pods in ${namespace}`, e);
    }
  }

  getPod(namespace: string, name: string): Promise<PodInfo | null> {
    return getPod(this.api(), namespace, name);
  }

  getPodTemplate(namespace: string, deployment: string): Promise<PodTemplateSpec | null> {
    return getPodTemplate(this.api(), namespace, deployment);
  }

  createPod(pod: PodManifest): Promise<string> {
    return createPod(this.api(), pod);
  }

  deletePods(namespace: string, labelSelector: string): Promise<number> {
    return deletePods(this.api(), namespace, labelSelector);
  }

  podLogTail(namespace: string, name: string, container: string, lines: number): Promise<string> {
    return podLogTail(this.api(), namespace, name, container, lines);
  }

  restartDeployment(namespace: string, name: string): Promise<void> {
    return restartDeployment(this.api(), namespace, name);
  }

  async waitForRollout(namespace: string, names: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.gate.dryRun) return;
    const api = this.api();
    await waitForRollout((ns, pending) => readDeployments(api, ns, pending), namespace, names, timeoutMs, signal, this.onWait);
  }

  listDeployments(namespace: string, labelSelector: string): Promise<string[]> {
    return listDeployments(this.api(), namespace, labelSelector);
  }

  /** The retried calls and error mapping that deployments.ts, pods.ts and secrets.ts work through. */
  private api(): KubeApi {
    return {
      core: this.core,
      apps: this.apps,
      objects: this.objects,
      gate: this.gate,
      fieldManager: FIELD_MANAGER,
      call: (what, fn) => this.withRetry(what, fn),
      fail: (action, e) => this.fail(action, e),
    };
  }

  acquireLease(namespace: string, name: string, holder: string, durationSeconds: number): Promise<() => Promise<void>> {
    const api = {
      coord: this.kc.makeApiClient(k8s.CoordinationV1Api),
      call: <T>(what: string, fn: () => Promise<T>) => this.withRetry(what, fn),
      fail: (action: string, e: unknown): never => this.fail(action, e),
      releaseRetry: this.retry.release,
      onRetry: this.retryHooks.onRetry,
    };
    return acquireLease(api, namespace, name, holder, durationSeconds);
  }
}
