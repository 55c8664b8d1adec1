// Pods june-ts creates and removes itself (rotate-keys' key checks), and the pod template
// they are built from. Reached through the client's retried calls and error mapping.
import type * as k8s from '@kubernetes/client-node';
import type { KubeApi as PodApi } from './api.js';
import { toPodInfo } from './mappers.js';
import { statusOf } from './retry.js';
import type { PodInfo, PodManifest, PodTemplateSpec } from './types.js';

export async function getPod(api: PodApi, namespace: string, name: string): Promise<PodInfo | null> {
  try {
    return toPodInfo(await api.call('pod', () => api.core.readNamespacedPod({ name, namespace })));
  } catch (e) {
    if (statusOf(e) === 404) return null;
    api.fail(`read pod ${namespace}/${name}`, e);
  }
}

export async function getPodTemplate(api: PodApi, namespace: string, deployment: string): Promise<PodTemplateSpec | null> {
  try {
    const d = await api.call('deployment', () => api.apps.readNamespacedDeployment({ name: deployment, namespace }));
    return (d.spec?.template.spec as PodTemplateSpec | undefined) ?? null;
  } catch (e) {
    if (statusOf(e) === 404) return null;
    api.fail(`read Deployment ${namespace}/${deployment}`, e);
  }
}

export function createPod(api: PodApi, pod: PodManifest): Promise<string> {
  const ns = pod.metadata.namespace;
  return api.gate.write(
    { kind: 'apply', object: `Pod/${pod.metadata.generateName}*`, namespace: ns, manifest: pod, note: 'created, then deleted again' },
    async () => {
      try {
        // not retried: a create whose answer was lost would leave a second pod behind
        const created = await api.core.createNamespacedPod({
          namespace: ns,
          body: pod as unknown as k8s.V1Pod,
          fieldManager: api.fieldManager,
        });
        return created.metadata?.name ?? '';
      } catch (e) {
        api.fail(`create pod ${ns}/${pod.metadata.generateName}…`, e);
      }
    },
    `${pod.metadata.generateName}dryrun`,
  );
}

/** Deletes the pods matching a selector at once (no grace period); returns how many. */
export async function deletePods(api: PodApi, namespace: string, labelSelector: string): Promise<number> {
  if (api.gate.dryRun) return 0;
  let pods: k8s.V1Pod[];
  try {
    pods = (await api.call('pods', () => api.core.listNamespacedPod({ namespace, labelSelector }))).items;
  } catch (e) {
    api.fail(`list pods in ${namespace}`, e);
  }
  await Promise.all(
    pods.map(async (p) => {
      const name = p.metadata?.name ?? '';
      try {
        await api.call('delete pod', () => api.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }));
      } catch (e) {
        if (statusOf(e) !== 404) api.fail(`delete pod ${namespace}/${name}`, e);
      }
    }),
  );
  return pods.length;
}

export async function podLogTail(api: PodApi, namespace: string, name: string, container: string, lines: number): Promise<string> {
  try {
    return await api.call('pod log', () => api.core.readNamespacedPodLog({ name, namespace, container, tailLines: lines }));
  } catch (e) {
    if (statusOf(e) === 404 || statusOf(e) === 400) return '';
    api.fail(`read the log of ${namespace}/${name} -c ${container}`, e);
  }
}
