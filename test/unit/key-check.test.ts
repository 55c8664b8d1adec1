// The key-check pod and its verdicts (domain/key-check.ts), and the retired-keys record.
import { describe, expect, it } from 'vitest';
import { judgeKeyCheck, keyCheckHostname, keyCheckPod } from '../../src/domain/key-check.js';
import { dueForDeletion, readRetiredRecord, withRetired, withoutRetired, writeRetiredRecord } from '../../src/domain/retired-keys.js';
import type { HsNode } from '../../src/headscale/types.js';
import type { PodTemplateSpec } from '../../src/kube/types.js';

const template: PodTemplateSpec = {
  containers: [
    { name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] },
    {
      name: 'tailscale',
      image: 'ghcr.io/tailscale/tailscale:v1.102.3',
      imagePullPolicy: 'IfNotPresent',
      env: [
        { name: 'TS_AUTHKEY', valueFrom: { secretKeyRef: { name: 'headscale-auth-keys', key: 'june-idp-authkey' } } },
        { name: 'TS_HOSTNAME', value: 'june-idp' },
        { name: 'TS_EXTRA_ARGS', value: '--login-server=https://hs.example' },
        { name: 'TS_KUBE_SECRET', value: 'june-idp-tailscale-state' },
        { name: 'TS_ENABLE_HEALTH_CHECK', value: 'true' },
        { name: 'TS_LOCAL_ADDR_PORT', value: '[::]:9002' },
        { name: 'TS_SOCKS5_SERVER', value: 'localhost:1055' },
        { name: 'TS_NO_LOGS_NO_SUPPORT', value: 'true' },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ],
      securityContext: { runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
      readinessProbe: { httpGet: { path: '/healthz', port: 'ts-health' } },
      ports: [{ name: 'ts-health', containerPort: 9002 }],
      volumeMounts: [
        { name: 'tailscale-tmp', mountPath: '/tmp' },
        { name: 'sa-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
      ],
    },
  ],
  volumes: [
    { name: 'tailscale-tmp', emptyDir: {} },
    { name: 'sa-token', projected: { sources: [] } },
  ],
  securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
  nodeSelector: { pool: 'apps' },
};

describe('key-check pod', () => {
  const pod = keyCheckPod('idp', 'june-services', template, 150)!;
  const c = (
    pod.spec.containers as { name: string; env: { name: string; value?: string; valueFrom?: unknown }[]; [k: string]: unknown }[]
  )[0]!;
  const env = Object.fromEntries(c.env.map((e) => [e.name, e]));

  it("runs only the service's sidecar, under its own tailnet name, with in-memory state", () => {
    expect((pod.spec.containers as unknown[]).length).toBe(1);
    expect(c.name).toBe('tailscale');
    expect(c.image).toBe('ghcr.io/tailscale/tailscale:v1.102.3');
    expect(env.TS_HOSTNAME!.value).toBe('june-idp-keycheck');
    expect(env.TS_KUBE_SECRET!.value).toBe('');
    expect(c.env.filter((e) => e.name === 'TS_HOSTNAME' || e.name === 'TS_KUBE_SECRET')).toHaveLength(2);
  });

  it('reads the key through the same secretKeyRef, never as a value', () => {
    expect(env.TS_AUTHKEY).toEqual({
      name: 'TS_AUTHKEY',
      valueFrom: { secretKeyRef: { name: 'headscale-auth-keys', key: 'june-idp-authkey' } },
    });
    expect(env.TS_EXTRA_ARGS!.value).toBe('--login-server=https://hs.example');
    expect(env.POD_NAME).toBeDefined();
  });

  it("keeps the sidecar's security settings and scheduling, drops its listeners, probes and token", () => {
    for (const gone of ['TS_ENABLE_HEALTH_CHECK', 'TS_LOCAL_ADDR_PORT', 'TS_SOCKS5_SERVER']) expect(env[gone]).toBeUndefined();
    expect(c.readinessProbe).toBeUndefined();
    expect(c.ports).toBeUndefined();
    expect(c.securityContext).toEqual({ runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(pod.spec.securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.spec.nodeSelector).toEqual({ pool: 'apps' });
    expect(c.volumeMounts).toEqual([{ name: 'tailscale-tmp', mountPath: '/tmp' }]);
    expect(pod.spec.volumes).toEqual([{ name: 'tailscale-tmp', emptyDir: {} }]);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.activeDeadlineSeconds).toBe(150);
    expect(pod.metadata).toEqual({
      generateName: 'june-idp-keycheck-',
      namespace: 'june-services',
      labels: { 'app.kubernetes.io/managed-by': 'june-ts', 'june-ts.dev/key-check': 'idp' },
    });
  });

  it('finds a native sidecar among the init containers, and none without a sidecar', () => {
    const native = {
      containers: [template.containers[0]!],
      initContainers: [{ ...template.containers[1]!, restartPolicy: 'Always' }],
      volumes: template.volumes,
    };
    const p = keyCheckPod('idp', 'june-services', native, 60)!;
    expect((p.spec.containers as { restartPolicy?: string }[])[0]!.restartPolicy).toBeUndefined();
    expect(keyCheckPod('idp', 'june-services', { containers: [template.containers[0]!] }, 60)).toBeUndefined();
  });

  it('a hostname stays a DNS label', () => {
    expect(keyCheckHostname('a'.repeat(60))).toMatch(/^[a-z0-9-]{1,63}$/);
    expect(keyCheckHostname('a'.repeat(60)).endsWith('-')).toBe(false);
  });
});

describe('judging a key check', () => {
  const IDP = { kind: 'user', user: 'june-idp' } as const;
  const node = (o: Partial<HsNode>): HsNode => ({
    id: '9',
    name: 'june-idp-keycheck',
    givenName: 'june-idp-keycheck',
    user: 'june-idp',
    ipAddresses: [],
    online: true,
    createdAt: new Date('2026-12-01T10:00:05Z'),
    ...o,
  });

  it('pending until a node registers; proven by a fresh node of the user with the new key', () => {
    expect(judgeKeyCheck([], 'idp', IDP, '7')).toEqual({ state: 'pending', why: 'no node registered yet' });
    expect(judgeKeyCheck([node({ preAuthKeyId: '7' })], 'idp', IDP, '7')).toMatchObject({ state: 'proven' });
    // 0.29's -1 suffix for a name left over by an interrupted run
    expect(judgeKeyCheck([node({ givenName: 'june-idp-keycheck-1', preAuthKeyId: '7' })], 'idp', IDP, '7')).toMatchObject({
      state: 'proven',
    });
  });

  it('a node of another user or the service itself does not count', () => {
    expect(judgeKeyCheck([node({ user: 'june-orchestrator' })], 'idp', IDP, '7').state).toBe('pending');
    expect(judgeKeyCheck([node({ name: 'june-idp', givenName: 'june-idp' })], 'idp', IDP, '7').state).toBe('pending');
  });

  it('with tag identities, the key-check node owned by the tag counts, and one of the user does not', () => {
    const tag = { kind: 'tag', tag: 'tag:june-idp' } as const;
    const tagged = node({ user: 'tagged-devices', tags: ['tag:june-idp'], preAuthKeyId: '7' });
    expect(judgeKeyCheck([tagged], 'idp', tag, '7')).toMatchObject({ state: 'proven' });
    expect(judgeKeyCheck([node({ preAuthKeyId: '7' })], 'idp', tag, '7').state).toBe('pending');
    expect(judgeKeyCheck([tagged], 'idp', IDP, '7').state).toBe('pending');
    expect(judgeKeyCheck([node({ user: 'tagged-devices', tags: ['tag:june-orchestrator'] })], 'idp', tag, '7').state).toBe('pending');
  });

  it('a node registered with another key fails the check', () => {
    expect(judgeKeyCheck([node({ preAuthKeyId: '3' })], 'idp', IDP, '7')).toEqual({
      state: 'failed',
      why: 'its node registered with key 3, not the new key 7',
    });
  });
});

describe('retired keys record', () => {
  it('reads what it writes, ignores garbage, and keeps ids only', () => {
    const r = withRetired(
      {},
      [
        { service: 'idp', id: '3' },
        { service: 'orchestrator', id: '4' },
      ],
      new Date('2026-11-01T00:00:00Z'),
    );
    const json = writeRetiredRecord(r);
    expect(json).toBe(
      '{"idp":[{"id":"3","expiredAt":"2026-11-01T00:00:00.000Z"}],"orchestrator":[{"id":"4","expiredAt":"2026-11-01T00:00:00.000Z"}]}',
    );
    expect(readRetiredRecord({ 'june-ts.dev/retired-keys': json })).toEqual(r);
    expect(readRetiredRecord({ 'june-ts.dev/retired-keys': 'not json' })).toEqual({});
    expect(readRetiredRecord({ 'june-ts.dev/retired-keys': '{"idp":[{"id":3}],"x":"y"}' })).toEqual({});
    expect(writeRetiredRecord(withoutRetired(r, new Set(['3', '4'])))).toBe('{}');
  });

  it('keys are due once older than the retention', () => {
    const r = withRetired({}, [{ service: 'idp', id: '3' }], new Date('2026-11-01T00:00:00Z'));
    const r2 = withRetired(r, [{ service: 'idp', id: '5' }], new Date('2026-11-25T00:00:00Z'));
    expect(dueForDeletion(r2, new Date('2026-12-01T00:00:00Z'), 30 * 86_400_000)).toEqual([{ service: 'idp', id: '3' }]);
    expect(dueForDeletion(r2, new Date('2026-12-01T00:00:00Z'), 0)).toEqual([
      { service: 'idp', id: '3' },
      { service: 'idp', id: '5' },
    ]);
    expect(withRetired(r, [{ service: 'idp', id: '3' }], new Date())).toEqual(r);
  });
});
