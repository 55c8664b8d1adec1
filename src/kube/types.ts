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
  /** How many pods a rollout may add above `replicas` (0: each old pod stops before its successor starts). */
  maxSurge: number;
}

export interface PodInfo {
  name: string;
  namespace: string;
  phase: string;
  labels: Record<string, string>;
  deletionTimestamp: string | undefined;
  /** status.reason, e.g. DeadlineExceeded. */
  reason?: string;
  containers: {
    name: string;
    ready: boolean;
    restartCount: number;
    waitingReason?: string;
    terminated?: { reason?: string; exitCode: number };
  }[];
}

/** The parts of a pod template june-ts reads (structural subsets of the Kubernetes types). */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
export interface VolumeMount {
  name: string;
  mountPath: string;
  [k: string]: unknown;
}
export interface Volume {
  name: string;
  emptyDir?: unknown;
  [k: string]: unknown;
}
export interface ContainerSpec {
  name: string;
  image?: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  resources?: unknown;
  securityContext?: unknown;
  volumeMounts?: VolumeMount[];
  [k: string]: unknown;
}
export interface PodTemplateSpec {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  volumes?: Volume[];
  securityContext?: unknown;
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
  imagePullSecrets?: unknown[];
  priorityClassName?: string;
}

/** A pod june-ts creates (e.g. a key check); the server picks the name from generateName. */
export interface PodManifest {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: { generateName: string; namespace: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
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
  /** When the namespace is being deleted, its deletion time; null when it is not (or does not exist). */
  namespaceDeletedAt(name: string): Promise<string | null>;
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
  getPod(namespace: string, name: string): Promise<PodInfo | null>;
  /** The pod template of a Deployment (spec.template.spec), or null when there is none. */
  getPodTemplate(namespace: string, deployment: string): Promise<PodTemplateSpec | null>;
  /** Creates a pod; returns the name the server gave it. */
  createPod(pod: PodManifest): Promise<string>;
  /** Deletes the pods matching a label selector at once (no grace period); returns how many. */
  deletePods(namespace: string, labelSelector: string): Promise<number>;
  /** The last `lines` lines of a container's log ('' when there is none yet). */
  podLogTail(namespace: string, name: string, container: string, lines: number): Promise<string>;
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
