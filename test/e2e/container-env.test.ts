// The env's kubelet computes a container's environment from the pod spec as the kubelet
// does; containerboot then reads exactly that. No cluster needed: Secrets and ConfigMaps
// come from maps.
import { describe, expect, it } from 'vitest';
import { containerEnv, expandRefs, kubernetesServiceEnv } from './env/container-env.js';

const pod = {
  metadata: { name: 'june-x-abc', namespace: 'june-services', uid: 'u-1', labels: { app: 'x' }, annotations: {} },
  spec: { nodeName: 'node-000001', serviceAccountName: 'june-x-tailscale', containers: [] },
  status: { podIP: '10.0.0.7', hostIP: '127.0.0.1' },
};
const secrets: Record<string, Record<string, string>> = { keys: { authkey: 'hskey-auth-x' } };
const configMaps: Record<string, Record<string, string>> = { cfg: { level: 'debug', mode: 'a' } };
const src = {
  serviceEnv: kubernetesServiceEnv({ host: '127.0.0.1', port: 443 }),
  secret: async (_ns: string, name: string) => secrets[name],
  configMap: async (_ns: string, name: string) => configMaps[name],
};

describe('container env as the kubelet computes it', () => {
  it('values, secretKeyRef, fieldRef, $(VAR) from earlier entries only, $$ escapes, empty values kept', async () => {
    const { env, error } = await containerEnv(
      pod,
      {
        env: [
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'LATER_REF', value: '$(DEFINED_AFTER)-x' },
          { name: 'TS_KUBE_SECRET', value: '$(POD_NAME)-state' },
          { name: 'TS_AUTHKEY', valueFrom: { secretKeyRef: { name: 'keys', key: 'authkey' } } },
          { name: 'DEFINED_AFTER', value: 'late' },
          { name: 'ESCAPED', value: '$$(POD_NAME)' },
          { name: 'EMPTY' },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'level' } } },
          { name: 'API', value: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)' },
        ],
      },
      src,
    );
    expect(error).toBeUndefined();
    expect(env).toMatchObject({
      POD_NAME: 'june-x-abc',
      LATER_REF: '$(DEFINED_AFTER)-x',
      TS_KUBE_SECRET: 'june-x-abc-state',
      TS_AUTHKEY: 'hskey-auth-x',
      ESCAPED: '$(POD_NAME)',
      EMPTY: '',
      NODE: 'node-000001',
      IP: '10.0.0.7',
      UID: 'u-1',
      APP: 'x',
      LEVEL: 'debug',
      API: 'https://127.0.0.1:443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
    });
  });

  it('envFrom with prefix, overridden by env', async () => {
    const { env } = await containerEnv(
      pod,
      { envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'C_' }], env: [{ name: 'C_mode', value: 'b' }] },
      src,
    );
    expect(env).toMatchObject({ C_level: 'debug', C_mode: 'b' });
  });

  it('a missing Secret or key is a CreateContainerConfigError; optional ones are skipped', async () => {
    expect((await containerEnv(pod, { env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }, src)).error).toBe(
      'secret "nope" not found',
    );
    expect(
      (await containerEnv(pod, { env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'keys', key: 'other' } } }] }, src)).error,
    ).toBe("couldn't find key other in Secret june-services/keys");
    const opt = await containerEnv(
      pod,
      {
        env: [
          { name: 'K', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } },
          { name: 'H', value: 'h' },
        ],
      },
      src,
    );
    expect(opt.error).toBeUndefined();
    expect(opt.env).not.toHaveProperty('K');
    expect(opt.env.H).toBe('h');
  });

  it('expandRefs leaves unknown references as written', () => {
    expect(expandRefs('$(A)/$(B)/$$', { A: '1' })).toBe('1/$(B)/$');
  });
});
