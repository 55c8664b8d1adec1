// Deployments june-ts reads, waits for and restarts (the platform's services, Headscale).
// Reached through the client's retried calls and error mapping.
import * as k8s from '@kubernetes/client-node';
import type { KubeApi as DeploymentApi } from './api.js';
import { toDeploymentInfo } from './mappers.js';
import { statusOf } from './retry.js';
import type { DeploymentInfo } from './types.js';

export async function getDeployment(api: DeploymentApi, namespace: string, name: string): Promise<DeploymentInfo | null> {
  try {
    return toDeploymentInfo(await api.call('deployment', () => api.apps.readNamespacedDeployment({ name, namespace })));
  } catch (e) {
    if (statusOf(e) === 404) return null;
    api.fail(`read Deployment ${namespace}/${name}`, e);
  }
}

/**
 * The named Deployments as they are now (null: not there). One GET for a single one, else one
 * list of the namespace: a rollout of N costs one request (and one answer to decode) per poll
 * rather than N.
 */
export async function readDeployments(api: DeploymentApi, namespace: string, names: string[]): Promise<(DeploymentInfo | null)[]> {
  if (names.length === 1) return [await getDeployment(api, namespace, names[0]!)];
  try {
    const list = await api.call('deployments', () => api.apps.listNamespacedDeployment({ namespace }));
    const byName = new Map(list.items.map((d) => [d.metadata?.name, d]));
    return names.map((n) => {
      const d = byName.get(n);
      return d ? toDeploymentInfo(d) : null;
    });
  } catch (e) {
    api.fail(`list Deployments in ${namespace}`, e);
  }
}

export async function listDeployments(api: DeploymentApi, namespace: string, labelSelector: string): Promise<string[]> {
  try {
    const list = await api.call('deployments', () => api.apps.listNamespacedDeployment({ namespace, labelSelector }));
    return list.items.map((d) => d.metadata?.name ?? '').filter(Boolean);
  } catch (e) {
    api.fail(`list Deployments in ${namespace} (${labelSelector})`, e);
  }
}

export async function restartDeployment(api: DeploymentApi, namespace: string, name: string): Promise<void> {
  const patch = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } };
  await api.gate.write(
    { kind: 'restart', object: `Deployment/${name}`, namespace },
    async () => {
      try {
        await api.call('restart', () =>
          api.apps.patchNamespacedDeployment(
            { name, namespace, body: patch, fieldManager: api.fieldManager },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
          ),
        );
      } catch (e) {
        api.fail(`restart Deployment ${namespace}/${name}`, e);
      }
    },
    undefined,
  );
}
