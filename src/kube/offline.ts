// KubeClient for the static dry-run: no cluster is contacted. Reads see an empty cluster,
// writes are recorded as plan entries, so the plan shows every write as on a fresh install.
import type { WriteGate } from '../write-gate.js';
import type { ApplySecret, DeploymentInfo, KubeClient, PodInfo, PodManifest, PodTemplateSpec, SecretInfo } from './types.js';

export class OfflineKube implements KubeClient {
  constructor(private readonly gate: WriteGate) {}

  async serverVersion(): Promise<string> {
    return 'unknown (static plan: no cluster contacted)';
  }
  async namespaceExists(): Promise<boolean> {
    return false;
  }
  async namespaceDeletedAt(): Promise<string | null> {
    return null;
  }
  async ensureNamespace(name: string): Promise<void> {
    this.gate.record({ kind: 'apply', object: `Namespace/${name}`, manifest: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  }
  async getSecret(): Promise<SecretInfo | null> {
    return null;
  }
  async applySecret(secret: ApplySecret): Promise<SecretInfo> {
    this.gate.record({
      kind: 'apply',
      object: `Secret/${secret.name}`,
      namespace: secret.namespace,
      note: 'server-side apply',
      manifest: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: secret.name, namespace: secret.namespace, labels: secret.labels, annotations: secret.annotations },
        type: 'Opaque',
        data: Object.fromEntries(Object.keys(secret.stringData).map((k) => [k, '<redacted>'])),
      },
    });
    return {
      name: secret.name,
      namespace: secret.namespace,
      data: secret.stringData,
      labels: secret.labels ?? {},
      annotations: secret.annotations ?? {},
      resourceVersion: '',
    };
  }
  async restoreSecret(): Promise<void> {}
  async deleteSecret(namespace: string, name: string): Promise<boolean> {
    this.gate.record({ kind: 'delete', object: `Secret/${name}`, namespace });
    return true;
  }
  async getConfigMap(): Promise<Record<string, string> | null> {
    return null;
  }
  async getDeployment(): Promise<DeploymentInfo | null> {
    return null;
  }
  async listPods(): Promise<PodInfo[]> {
    return [];
  }
  async getPod(): Promise<PodInfo | null> {
    return null;
  }
  async getPodTemplate(): Promise<PodTemplateSpec | null> {
    return null;
  }
  async createPod(pod: PodManifest): Promise<string> {
    this.gate.record({
      kind: 'apply',
      object: `Pod/${pod.metadata.generateName}*`,
      namespace: pod.metadata.namespace,
      manifest: pod,
      note: 'created, then deleted again',
    });
    return `${pod.metadata.generateName}dryrun`;
  }
  async deletePods(): Promise<number> {
    return 0;
  }
  async podLogTail(): Promise<string> {
    return '';
  }
  async restartDeployment(namespace: string, name: string): Promise<void> {
    this.gate.record({ kind: 'restart', object: `Deployment/${name}`, namespace });
  }
  async waitForRollout(): Promise<void> {}
  async listDeployments(): Promise<string[]> {
    return [];
  }
  async acquireLease(): Promise<() => Promise<void>> {
    return async () => {};
  }
}
