// The Secrets june-ts reads and writes: server-side apply (no last-applied-configuration
// copy of the data), an exact restore, and delete. Values are registered with the redactor
// before anything can print them.
import * as k8s from '@kubernetes/client-node';
import { redactor } from '../ui/redact.js';
import type { KubeApi } from './api.js';
import { toSecretInfo } from './mappers.js';
import { statusOf } from './retry.js';
import type { ApplySecret, SecretInfo } from './types.js';

export async function getSecret(api: KubeApi, namespace: string, name: string): Promise<SecretInfo | null> {
  try {
    return toSecretInfo(await api.call('secret', () => api.core.readNamespacedSecret({ name, namespace })));
  } catch (e) {
    if (statusOf(e) === 404) return null;
    api.fail(`read Secret ${namespace}/${name}`, e);
  }
}

const base64 = (data: Record<string, string>) =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));

export function applySecret(api: KubeApi, secret: ApplySecret): Promise<SecretInfo> {
  for (const v of Object.values(secret.stringData)) redactor.add(v);
  const body: k8s.V1Secret & { apiVersion: string; kind: string } = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secret.name, namespace: secret.namespace, labels: secret.labels, annotations: secret.annotations },
    type: 'Opaque',
    data: base64(secret.stringData),
  };
  const manifest = { ...body, data: Object.fromEntries(Object.keys(secret.stringData).map((k) => [k, '<redacted>'])) };
  return api.gate.write(
    { kind: 'apply', object: `Secret/${secret.name}`, namespace: secret.namespace, manifest, note: 'server-side apply' },
    async () => {
      try {
        const applied = await api.call('apply secret', () =>
          api.objects.patch(body, undefined, undefined, api.fieldManager, true, k8s.PatchStrategy.ServerSideApply),
        );
        return toSecretInfo(applied as k8s.V1Secret);
      } catch (e) {
        api.fail(`apply Secret ${secret.namespace}/${secret.name}`, e);
      }
    },
    {
      name: secret.name,
      namespace: secret.namespace,
      data: secret.stringData,
      labels: secret.labels ?? {},
      annotations: secret.annotations ?? {},
      resourceVersion: '',
    },
  );
}

/** Puts a Secret back exactly as `previous` (or deletes it when there was none). */
export async function restoreSecret(api: KubeApi, namespace: string, name: string, previous: SecretInfo | null): Promise<void> {
  if (!previous) {
    await deleteSecret(api, namespace, name);
    return;
  }
  await api.gate.write(
    { kind: 'apply', object: `Secret/${name}`, namespace, manifest: { restore: 'previous contents' }, note: 'restore' },
    async () => {
      try {
        const current = await api.call('read secret', () => api.core.readNamespacedSecret({ name, namespace }));
        current.data = base64(previous.data);
        current.metadata!.annotations = previous.annotations;
        current.metadata!.labels = previous.labels;
        await api.call('replace secret', () => api.core.replaceNamespacedSecret({ name, namespace, body: current }));
      } catch (e) {
        if (statusOf(e) === 404) {
          await applySecret(api, {
            namespace,
            name,
            stringData: previous.data,
            labels: previous.labels,
            annotations: previous.annotations,
          });
          return;
        }
        api.fail(`restore Secret ${namespace}/${name}`, e);
      }
    },
    undefined,
  );
}

export function deleteSecret(api: KubeApi, namespace: string, name: string): Promise<boolean> {
  return api.gate.write(
    { kind: 'delete', object: `Secret/${name}`, namespace },
    async () => {
      try {
        await api.call('delete secret', () => api.core.deleteNamespacedSecret({ name, namespace }));
        return true;
      } catch (e) {
        if (statusOf(e) === 404) return false;
        api.fail(`delete Secret ${namespace}/${name}`, e);
      }
    },
    true,
  );
}
