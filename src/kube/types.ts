// The Kubernetes seam. Each consumer uses the few methods it needs; the real client
// (client.ts, @kubernetes/client-node) and the offline one (offline.ts, static dry-run)
// implement all of them, and unit tests hand phases a small map-backed fake.

export interface SecretInfo {
  name: string;
  namespace: string;
  /** Decoded values. Secret material: register with the redactor before use. */
  data: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  resourceVersion: string;
}

export interface DeploymentInfo {
  name: string;
  namespace: string;
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  /** status.replicas: pods of every ReplicaSet, so old ones still running count too. */
  currentReplicas: number;
  observedGeneration: number;
  generation: number;
  containers: string[];
  podLabels: Record<string, string>;
}

export interface PodInfo {
  name: string;
  namespace: string;
  phase: string;
  labels: Record<string, string>;
  deletionTimestamp: string | undefined;
  containers: { name: string; ready: boolean; restartCount: number; waitingReason?: string }[];
}

export interface ApplySecret {
  namespace: string;
  name: string;
  stringData: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubeClient {
  /** Server version, e.g. v1.34.4; throws a clear error when unreachable. */
  serverVersion(): Promise<string>;
  namespaceExists(name: string): Promise<boolean>;
  ensureNamespace(name: string): Promise<void>;
  getSecret(namespace: string, name: string): Promise<SecretInfo | null>;
  /** Server-side apply (field manager june-ts): no last-applied-configuration annotation. */
  applySecret(secret: ApplySecret): Promise<SecretInfo>;
  /** Restores a Secret to exactly `previous` (or deletes it when previous is null). */
  restoreSecret(namespace: string, name: string, previous: SecretInfo | null): Promise<void>;
  deleteSecret(namespace: string, name: string): Promise<boolean>;
  getConfigMap(namespace: string, name: string): Promise<Record<string, string> | null>;
  getDeployment(namespace: string, name: string): Promise<DeploymentInfo | null>;
  listPods(namespace: string, labelSelector: string): Promise<PodInfo[]>;
  /** `kubectl rollout restart`: bumps the pod template's restartedAt annotation. */
  restartDeployment(namespace: string, name: string): Promise<void>;
  /** Waits until every named Deployment has rolled out; throws naming the ones that did not. */
  waitForRollout(namespace: string, names: string[], timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Names of the Deployments matching a label selector (e.g. a Helm release's instance label). */
  listDeployments(namespace: string, labelSelector: string): Promise<string[]>;
  /**
   * Takes the run lease (a coordination.k8s.io Lease) or throws PreflightError naming the
   * holder. A lease not renewed within its duration is stale and taken over. Returns release().
   */
  acquireLease(namespace: string, name: string, holder: string, durationSeconds: number): Promise<() => Promise<void>>;
}
