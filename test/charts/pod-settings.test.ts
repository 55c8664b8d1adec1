// Per-service pod settings over serviceDefaults: what lands in the rendered pods.
import { beforeAll, describe, expect, it } from 'vitest';
import { HELMS, PLATFORM_CHART, byName, parseManifests, requireBin, shouldSkip, template, type Helm } from './helm.js';

async function pods(helm: Helm, set: Record<string, unknown>, sidecars = false) {
  const objects = parseManifests(
    await template(helm, PLATFORM_CHART, sidecars ? { valuesFiles: ['values-headscale.yaml'], set } : { set }),
  );
  const of = (svc: string) => {
    const template = byName(objects, 'Deployment', `june-${svc}`).spec.template;
    const spec = template.spec;
    return { template, spec, app: spec.containers.find((c: { name: string }) => c.name === `june-${svc}`) };
  };
  return { orchestrator: of('orchestrator'), idp: of('idp') };
}

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour}: pod settings`, () => {
    beforeAll(() => {
      requireBin(helm);
    });

    it('defaults: restricted pod and app securityContext, nothing else set', async () => {
      const { orchestrator } = await pods(helm, {});
      expect(orchestrator.spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(orchestrator.app.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      for (const key of [
        'nodeSelector',
        'tolerations',
        'affinity',
        'imagePullSecrets',
        'priorityClassName',
        'topologySpreadConstraints',
        'volumes',
      ]) {
        expect(orchestrator.spec, key).not.toHaveProperty(key);
      }
      expect(orchestrator.template.metadata).not.toHaveProperty('annotations');
      expect(orchestrator.app).not.toHaveProperty('volumeMounts');
    });

    it('sidecars off: no token in the app pods unless a service asks for it', async () => {
      const { orchestrator, idp } = await pods(helm, { 'services.idp.automountServiceAccountToken': true });
      expect(orchestrator.spec.automountServiceAccountToken).toBe(false);
      expect(idp.spec.automountServiceAccountToken).toBe(true);
      // With sidecars on, the pod never automounts: only the sidecar mounts its token.
      const on = await pods(helm, { 'services.idp.automountServiceAccountToken': true }, true);
      expect(on.idp.spec.automountServiceAccountToken).toBe(false);
    });

    it('maps merge one level deep, the service winning (false overrides true)', async () => {
      const { orchestrator, idp } = await pods(helm, {
        'serviceDefaults.nodeSelector': { pool: 'general', zone: 'a' },
        'services.orchestrator.nodeSelector': { pool: 'gpu' },
        'services.orchestrator.podSecurityContext': { runAsUser: 10001, runAsNonRoot: false },
        'services.orchestrator.securityContext': { readOnlyRootFilesystem: true },
        'serviceDefaults.podAnnotations': { team: 'june' },
        'services.idp.podAnnotations': { 'prometheus.io/scrape': 'true' },
        'services.idp.podLabels': { tier: 'auth' },
      });
      expect(orchestrator.spec.nodeSelector).toEqual({ pool: 'gpu', zone: 'a' });
      expect(idp.spec.nodeSelector).toEqual({ pool: 'general', zone: 'a' });
      expect(orchestrator.spec.securityContext).toEqual({
        runAsNonRoot: false,
        runAsUser: 10001,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(orchestrator.app.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        readOnlyRootFilesystem: true,
      });
      expect(idp.template.metadata.annotations).toEqual({ team: 'june', 'prometheus.io/scrape': 'true' });
      expect(idp.template.metadata.labels).toMatchObject({ tier: 'auth', 'app.kubernetes.io/name': 'june-idp' });
      expect(orchestrator.template.metadata.labels).not.toHaveProperty('tier');
    });

    it('lists and strings set on a service replace the default; others inherit it', async () => {
      const toleration = { key: 'dedicated', operator: 'Equal', value: 'june', effect: 'NoSchedule' };
      const spread = {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: { 'app.kubernetes.io/part-of': 'june-platform' } },
      };
      const { orchestrator, idp } = await pods(helm, {
        'serviceDefaults.tolerations': [toleration],
        'serviceDefaults.imagePullSecrets': [{ name: 'regcred' }],
        'serviceDefaults.priorityClassName': 'june-normal',
        'serviceDefaults.topologySpreadConstraints': [spread],
        'serviceDefaults.affinity': {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }],
            },
          },
        },
        'services.orchestrator.tolerations': [],
        'services.orchestrator.priorityClassName': 'june-high',
      });
      expect(orchestrator.spec).not.toHaveProperty('tolerations');
      expect(idp.spec.tolerations).toEqual([toleration]);
      expect(orchestrator.spec.priorityClassName).toBe('june-high');
      expect(idp.spec.priorityClassName).toBe('june-normal');
      for (const p of [orchestrator, idp]) {
        expect(p.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
        expect(p.spec.topologySpreadConstraints).toEqual([spread]);
        expect(p.spec.affinity.nodeAffinity).toBeDefined();
      }
    });

    it('every app container has a readiness probe by default, sidecars on and off (Keycloak: /health/ready on 9000)', async () => {
      const enableAll = { 'services.stt.enabled': true, 'services.tts.enabled': true };
      for (const sidecars of [false, true]) {
        const objects = parseManifests(
          await template(helm, PLATFORM_CHART, sidecars ? { valuesFiles: ['values-headscale.yaml'], set: enableAll } : { set: enableAll }),
        );
        for (const svc of ['orchestrator', 'idp', 'stt', 'tts']) {
          const spec = byName(objects, 'Deployment', `june-${svc}`).spec.template.spec;
          const app = spec.containers.find((c: { name: string }) => c.name === `june-${svc}`);
          expect(app.readinessProbe, `${svc} sidecars=${sidecars}`).toEqual(
            svc === 'idp'
              ? { httpGet: { path: '/health/ready', port: 9000 }, periodSeconds: 10, failureThreshold: 3 }
              : { tcpSocket: { port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
          );
        }
      }
    });

    it('a readiness probe is replaced by nulling the default handler, or removed with null', async () => {
      const own = { httpGet: { path: '/ready', port: 'http' } };
      const { orchestrator, idp } = await pods(helm, {
        'services.orchestrator.readinessProbe': { ...own, tcpSocket: null },
        'services.idp.readinessProbe': null,
      });
      expect(orchestrator.app.readinessProbe).toEqual({ ...own, periodSeconds: 10, failureThreshold: 3 });
      expect(idp.app).not.toHaveProperty('readinessProbe');
    });

    it('extra volumes go into the pod, their mounts into the app container only', async () => {
      const volume = { name: 'cache', emptyDir: { sizeLimit: '1Gi' } };
      const mount = { name: 'cache', mountPath: '/var/cache/june' };
      const { orchestrator } = await pods(
        helm,
        { 'services.orchestrator.extraVolumes': [volume], 'services.orchestrator.extraVolumeMounts': [mount] },
        true,
      );
      expect(orchestrator.spec.volumes).toContainEqual(volume);
      expect(orchestrator.spec.volumes.map((v: { name: string }) => v.name)).toEqual(
        expect.arrayContaining(['tailscale-tmp', 'tailscale-serviceaccount', 'cache']),
      );
      expect(orchestrator.app.volumeMounts).toEqual([mount]);
      const sidecar = [...orchestrator.spec.containers, ...(orchestrator.spec.initContainers ?? [])].find(
        (c: { name: string }) => c.name === 'tailscale',
      );
      expect(sidecar.volumeMounts.map((m: { name: string }) => m.name)).not.toContain('cache');
    });
  });
}
