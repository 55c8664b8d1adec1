// KubeClient over @kubernetes/client-node. Loaded only by commands that talk to a cluster.
import * as k8s from '@kubernetes/client-node';
import { ApiUnreachableError, ExternalError, InterruptedError, PreflightError, UsageError } from '../errors.js';
import type { WriteGate } from '../plan.js';
import { redactor } from '../ui/redact.js';
import type { ApplySecret, DeploymentInfo, KubeClient, PodInfo, SecretInfo } from './types.js';

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
}

export interface RetryPolicies {
  /** every API call of a run */
  api?: RetryPolicy;
  /** serverVersion(), the first contact */
  preflight?: RetryPolicy;
  /** releasing the run lock on exit */
  release?: RetryPolicy;
}

/** HTTP status of a client-node error (ApiException.code); undefined for network errors. */
export function statusOf(e: unknown): number | undefined {
  if (e instanceof RetriesExhausted) return statusOf(e.cause);
  const err = e as { code?: unknown; statusCode?: unknown };
  if (typeof err?.code === 'number') return err.code;
  if (typeof err?.statusCode === 'number') return err.statusCode;
  return undefined;
}

/**
 * The errno of a failed connection. client-node 1.x (node-fetch) throws a FetchError with
 * `code` and `errno` = 'ECONNREFUSED' (a string, unlike ApiException's numeric `code`);
 * undici-style errors carry it in `cause.code`.
 */
export function errnoOf(e: unknown): string | undefined {
  const err = e as { code?: unknown; errno?: unknown; cause?: { code?: unknown } };
  for (const c of [err?.code, err?.errno, err?.cause?.code]) if (typeof c === 'string' && /^E[A-Z_]+$/.test(c)) return c;
  return undefined;
}

/** Errors of the connection itself: the API server is down, restarting or unreachable. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** HTTP answers worth another try: throttling and a server that is starting or overloaded. */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);

export function isConnectionError(e: unknown): boolean {
  const errno = errnoOf(e instanceof RetriesExhausted ? e.cause : e);
  return errno !== undefined && CONNECTION_ERRORS.has(errno);
}

export function isTransient(e: unknown): boolean {
  const code = statusOf(e);
  return (code !== undefined && TRANSIENT_STATUS.has(code)) || isConnectionError(e);
}

/** How long a failing API call is retried: delays from firstDelayMs doubling to maxDelayMs. */
export interface RetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** No attempt starts later than this after the first one (bounds the whole call). */
  budgetMs: number;
}

/**
 * Every API call: ~20 s, long enough to ride out an API server restart (a few seconds),
 * then a clear failure. 200 ms doubling to 3 s: 10 attempts when each fails at once.
 */
export const API_RETRY: RetryPolicy = { firstDelayMs: 200, maxDelayMs: 3000, budgetMs: 20_000 };
/** The first contact (preflight): a cluster that is not there at all fails fast. */
export const PREFLIGHT_RETRY: RetryPolicy = { firstDelayMs: 200, maxDelayMs: 800, budgetMs: 2_000 };
/** Releasing the run lock on exit; a lock left behind expires (or is taken over, see acquireLease). */
export const RELEASE_RETRY: RetryPolicy = { firstDelayMs: 200, maxDelayMs: 1000, budgetMs: 3_000 };

/** The retries ran out on a transient error; `cause` is the last error. */
export class RetriesExhausted extends Error {
  constructor(
    readonly what: string,
    readonly attempts: number,
    readonly elapsedMs: number,
    override readonly cause: unknown,
  ) {
    super(`${what}: ${describe(cause)} (gave up after ${attempts} attempts in ${(elapsedMs / 1000).toFixed(1)}s)`);
    this.name = 'RetriesExhausted';
  }
}

export interface RetryClock {
  now(): number;
  /** Resolves after ms, or rejects with InterruptedError as soon as signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
const realClock: RetryClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new InterruptedError());
      const onAbort = () => {
        clearTimeout(timer);
        reject(new InterruptedError());
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export interface RetryHooks {
  /**
   * Ctrl-C: a call that was under way when it fired stops waiting for its next attempt
   * (InterruptedError) instead of sitting out the rest of its budget. A call started after
   * it (restoring a Secret, releasing the run lock) is clean-up and keeps its retries.
   */
  signal?: AbortSignal;
  onRetry?: (what: string, attempt: number, delayMs: number, reason: string) => void;
}

/**
 * Bounded retries with backoff on transient API errors (server restarting, throttling).
 * A non-transient error (404, 409, 403, a validation error) is thrown at once, unchanged;
 * when the budget runs out on a transient one, RetriesExhausted carries the last error.
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  policy: RetryPolicy = API_RETRY,
  clock: RetryClock = realClock,
  hooks: RetryHooks = {},
): Promise<T> {
  const start = clock.now();
  const signal = hooks.signal && !hooks.signal.aborted ? hooks.signal : undefined;
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e)) throw e;
      const elapsed = clock.now() - start;
      if (elapsed + delay > policy.budgetMs) throw new RetriesExhausted(what, attempt, elapsed, e);
      hooks.onRetry?.(what, attempt, delay, describe(e));
      await clock.sleep(delay, signal);
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}

function describe(e: unknown): string {
  if (e instanceof RetriesExhausted) return describe(e.cause);
  const err = e as { body?: unknown; message?: string };
  if (typeof err?.body === 'string') {
    try {
      const parsed = JSON.parse(err.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      /* not JSON */
    }
  }
  const message = (err?.message ?? String(e)).split('\n')[0]!;
  // node-fetch: "request to https://…/api/v1/… failed, reason: connect ECONNREFUSED 127.0.0.1:6443"
  return isConnectionError(e) ? (/, reason: (.+)$/.exec(message)?.[1] ?? message) : message;
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

export class ClientNodeKube implements KubeClient {
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly gate: WriteGate;
  private readonly retry: Required<RetryPolicies>;
  private readonly retryHooks: RetryHooks;

  constructor(options: KubeOptions) {
    this.gate = options.gate;
    this.retry = { api: API_RETRY, preflight: PREFLIGHT_RETRY, release: RELEASE_RETRY, ...options.retry };
    this.retryHooks = { signal: options.signal, onRetry: options.onRetry };
    this.kc = new k8s.KubeConfig();
    try {
      if (options.kubeconfig) this.kc.loadFromFile(options.kubeconfig);
      else this.kc.loadFromDefault();
    } catch (e) {
      throw new UsageError(`cannot read kubeconfig ${options.kubeconfig ?? '(default)'}: ${describe(e)}`, {
        hint: 'set KUBECONFIG (or --kubeconfig) to a valid kubeconfig file',
      });
    }
    if (options.context) {
      if (!this.kc.getContexts().some((c) => c.name === options.context)) {
        throw new UsageError(`kubeconfig context '${options.context}' does not exist`, {
          hint: `use one of: ${this.kc.getContexts().map((c) => c.name).join(', ') || '(none)'} (KUBE_CONTEXT or --context)`,
        });
      }
      this.kc.setCurrentContext(options.context);
    }
    if (!this.kc.getCurrentCluster()) {
      throw new PreflightError('no Kubernetes cluster configured', { hint: 'set KUBECONFIG or KUBE_CONTEXT to point at your cluster' });
    }
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
      throw new ExternalError(`${action}: ${describe(e)} (still failing after ${e.attempts} attempts in ${(e.elapsedMs / 1000).toFixed(1)}s)`, {}, {
        hint: 'the API server is overloaded or unhealthy; check `kubectl get --raw /readyz?verbose`, then re-run',
        cause: e,
      });
    }
    const code = statusOf(e);
    if (code === 401 || code === 403) {
      throw new ExternalError(`${action}: forbidden (${code}): ${describe(e)}`, {}, {
        hint: 'your kubeconfig user lacks this permission; see "RBAC for operators" in the README',
      });
    }
    throw new ExternalError(`${action}: ${describe(e)}`, {}, { cause: e });
  }

  async serverVersion(): Promise<string> {
    try {
      const v = await withRetry('version', () => this.kc.makeApiClient(k8s.VersionApi).getCode(), this.retry.preflight, realClock, this.retryHooks);
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

  async getSecret(namespace: string, name: string): Promise<SecretInfo | null> {
    try {
      const s = await this.withRetry('secret', () => this.core.readNamespacedSecret({ name, namespace }));
      return toSecretInfo(s);
    } catch (e) {
      if (statusOf(e) === 404) return null;
      this.fail(`read Secret ${namespace}/${name}`, e);
    }
  }

  async applySecret(secret: ApplySecret): Promise<SecretInfo> {
    for (const v of Object.values(secret.stringData)) redactor.add(v);
    const body: k8s.V1Secret & { apiVersion: string; kind: string } = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret.name, namespace: secret.namespace, labels: secret.labels, annotations: secret.annotations },
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(secret.stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    };
    const manifest = { ...body, data: Object.fromEntries(Object.keys(secret.stringData).map((k) => [k, '<redacted>'])) };
    return this.gate.write(
      { kind: 'apply', object: `Secret/${secret.name}`, namespace: secret.namespace, manifest, note: 'server-side apply' },
      async () => {
        try {
          const applied = await this.withRetry('apply secret', () =>
            this.objects.patch(body, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply),
          );
          return toSecretInfo(applied as k8s.V1Secret);
        } catch (e) {
          this.fail(`apply Secret ${secret.namespace}/${secret.name}`, e);
        }
      },
      { name: secret.name, namespace: secret.namespace, data: secret.stringData, labels: secret.labels ?? {}, annotations: secret.annotations ?? {}, resourceVersion: '' },
    );
  }

  async restoreSecret(namespace: string, name: string, previous: SecretInfo | null): Promise<void> {
    if (!previous) {
      await this.deleteSecret(namespace, name);
      return;
    }
    await this.gate.write(
      { kind: 'apply', object: `Secret/${name}`, namespace, manifest: { restore: 'previous contents' }, note: 'restore' },
      async () => {
        try {
          const current = await this.withRetry('read secret', () => this.core.readNamespacedSecret({ name, namespace }));
          current.data = Object.fromEntries(Object.entries(previous.data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
          current.metadata!.annotations = previous.annotations;
          current.metadata!.labels = previous.labels;
          await this.withRetry('replace secret', () => this.core.replaceNamespacedSecret({ name, namespace, body: current }));
        } catch (e) {
          if (statusOf(e) === 404) {
            await this.applySecret({ namespace, name, stringData: previous.data, labels: previous.labels, annotations: previous.annotations });
            return;
          }
          this.fail(`restore Secret ${namespace}/${name}`, e);
        }
      },
      undefined,
    );
  }

  async deleteSecret(namespace: string, name: string): Promise<boolean> {
    return this.gate.write(
      { kind: 'delete', object: `Secret/${name}`, namespace },
      async () => {
        try {
          await this.withRetry('delete secret', () => this.core.deleteNamespacedSecret({ name, namespace }));
          return true;
        } catch (e) {
          if (statusOf(e) === 404) return false;
          this.fail(`delete Secret ${namespace}/${name}`, e);
        }
      },
      true,
    );
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

  async getDeployment(namespace: string, name: string): Promise<DeploymentInfo | null> {
    try {
      const d = await this.withRetry('deployment', () => this.apps.readNamespacedDeployment({ name, namespace }));
      return toDeploymentInfo(d);
    } catch (e) {
      if (statusOf(e) === 404) return null;
      this.fail(`read Deployment ${namespace}/${name}`, e);
    }
  }

  async listPods(namespace: string, labelSelector: string): Promise<PodInfo[]> {
    try {
      const list = await this.withRetry('pods', () => this.core.listNamespacedPod({ namespace, labelSelector }));
      return list.items.map(toPodInfo);
    } catch (e) {
      this.fail(`list pods in ${namespace}`, e);
    }
  }

  async restartDeployment(namespace: string, name: string): Promise<void> {
    const patch = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } };
    await this.gate.write(
      { kind: 'restart', object: `Deployment/${name}`, namespace },
      async () => {
        try {
          await this.withRetry('restart', () =>
            this.apps.patchNamespacedDeployment(
              { name, namespace, body: patch, fieldManager: FIELD_MANAGER },
              k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
            ),
          );
        } catch (e) {
          this.fail(`restart Deployment ${namespace}/${name}`, e);
        }
      },
      undefined,
    );
  }

  async waitForRollout(namespace: string, names: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.gate.dryRun) return;
    const deadline = Date.now() + timeoutMs;
    let pending = names;
    while (pending.length) {
      const states = await Promise.all(pending.map((n) => this.getDeployment(namespace, n)));
      pending = pending.filter((_, i) => !rolledOut(states[i] ?? null));
      if (!pending.length) return;
      if (signal?.aborted) throw new InterruptedError();
      if (Date.now() > deadline) {
        throw new ExternalError(`Deployments not rolled out after ${Math.round(timeoutMs / 1000)}s: ${pending.join(', ')}`, {}, {
          hint: `inspect with: kubectl -n ${namespace} get pods; kubectl -n ${namespace} describe deployment ${pending[0]}`,
        });
      }
      // A short poll: every Deployment is read concurrently, one GET each, and most
      // rollouts june-ts starts finish within a few seconds.
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async listDeployments(namespace: string, labelSelector: string): Promise<string[]> {
    try {
      const list = await this.withRetry('deployments', () => this.apps.listNamespacedDeployment({ namespace, labelSelector }));
      return list.items.map((d) => d.metadata?.name ?? '').filter(Boolean);
    } catch (e) {
      this.fail(`list Deployments in ${namespace} (${labelSelector})`, e);
    }
  }

  async acquireLease(namespace: string, name: string, holder: string, durationSeconds: number): Promise<() => Promise<void>> {
    const coord = this.kc.makeApiClient(k8s.CoordinationV1Api);
    const now = () => new k8s.V1MicroTime(Date.now());
    const spec = () => ({ holderIdentity: holder, leaseDurationSeconds: durationSeconds, acquireTime: now(), renewTime: now() });
    try {
      await this.withRetry('create lease', () => coord.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: spec() } }));
    } catch (e) {
      if (statusOf(e) !== 409) this.fail(`create Lease ${namespace}/${name}`, e);
      let current: k8s.V1Lease;
      try {
        current = await this.withRetry('read lease', () => coord.readNamespacedLease({ name, namespace }));
      } catch (e2) {
        this.fail(`read Lease ${namespace}/${name}`, e2);
      }
      const renewed = current.spec?.renewTime ? new Date(current.spec.renewTime as unknown as string).getTime() : 0;
      const ttl = (current.spec?.leaseDurationSeconds ?? durationSeconds) * 1000;
      const other = current.spec?.holderIdentity;
      if (other && other !== holder && renewed + ttl > Date.now() && !holderGone(other, holder)) {
        throw new PreflightError(`another june-ts run holds the lock (Lease ${namespace}/${name}, holder ${other})`, {
          hint: `wait for it to finish; if it died, its lock expires ${Math.ceil((renewed + ttl - Date.now()) / 1000)}s after its last renewal`,
        });
      }
      current.spec = spec();
      try {
        await this.withRetry('take over lease', () => coord.replaceNamespacedLease({ name, namespace, body: current }));
      } catch (e2) {
        if (statusOf(e2) === 409) {
          throw new PreflightError(`another june-ts run took the lock (Lease ${namespace}/${name}) at the same moment`, { hint: 'wait for it to finish' });
        }
        this.fail(`take over Lease ${namespace}/${name}`, e2);
      }
    }
    const timer = setInterval(() => {
      void coord
        .readNamespacedLease({ name, namespace })
        .then((l) => {
          if (l.spec?.holderIdentity !== holder) return;
          l.spec.renewTime = now();
          return coord.replaceNamespacedLease({ name, namespace, body: l });
        })
        .catch(() => {});
    }, (durationSeconds * 1000) / 3);
    timer.unref();
    return async () => {
      clearInterval(timer);
      try {
        const l = await withRetry('read lease', () => coord.readNamespacedLease({ name, namespace }), this.retry.release, realClock, { onRetry: this.retryHooks.onRetry });
        if (l.spec?.holderIdentity === holder) await withRetry('delete lease', () => coord.deleteNamespacedLease({ name, namespace }), this.retry.release);
      } catch {
        /* an expired lease is harmless */
      }
    };
  }
}

/**
 * A Lease holder is `<host>/<pid>/<command>`. A run on this host whose process is gone (it
 * died, or failed while the API server was down and could not release the lock) holds
 * nothing: its Lease is taken over at once instead of after leaseDurationSeconds.
 */
export function holderGone(other: string, self: string, alive: (pid: number) => boolean = processAlive): boolean {
  const [host, pid] = other.split('/');
  const [selfHost] = self.split('/');
  return Boolean(host) && host === selfHost && /^\d+$/.test(pid ?? '') && Number(pid) > 0 && !alive(Number(pid));
}

export function rolledOut(d: DeploymentInfo | null): boolean {
  if (!d) return false;
  return (
    d.observedGeneration >= d.generation &&
    d.updatedReplicas >= d.replicas &&
    d.currentReplicas <= d.updatedReplicas &&
    d.availableReplicas >= d.replicas &&
    d.readyReplicas >= d.replicas
  );
}

function toSecretInfo(s: k8s.V1Secret): SecretInfo {
  const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  for (const v of Object.values(data)) redactor.add(v);
  return {
    name: s.metadata?.name ?? '',
    namespace: s.metadata?.namespace ?? '',
    data,
    labels: s.metadata?.labels ?? {},
    annotations: s.metadata?.annotations ?? {},
    resourceVersion: s.metadata?.resourceVersion ?? '',
  };
}

function toDeploymentInfo(d: k8s.V1Deployment): DeploymentInfo {
  return {
    name: d.metadata?.name ?? '',
    namespace: d.metadata?.namespace ?? '',
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    currentReplicas: d.status?.replicas ?? 0,
    observedGeneration: d.status?.observedGeneration ?? 0,
    generation: d.metadata?.generation ?? 0,
    containers: d.spec?.template.spec?.containers.map((c) => c.name) ?? [],
    podLabels: d.spec?.selector.matchLabels ?? {},
  };
}

function toPodInfo(p: k8s.V1Pod): PodInfo {
  const statuses = p.status?.containerStatuses ?? [];
  return {
    name: p.metadata?.name ?? '',
    namespace: p.metadata?.namespace ?? '',
    phase: p.status?.phase ?? 'Unknown',
    labels: p.metadata?.labels ?? {},
    deletionTimestamp: p.metadata?.deletionTimestamp ? String(p.metadata.deletionTimestamp) : undefined,
    containers: (p.spec?.containers ?? []).map((c) => {
      const st = statuses.find((s) => s.name === c.name);
      const waiting = st?.state?.waiting?.reason;
      return { name: c.name, ready: st?.ready ?? false, restartCount: st?.restartCount ?? 0, ...(waiting ? { waitingReason: waiting } : {}) };
    }),
  };
}
