// Turning the sidecars on must add sidecar things and change nothing else: same Services,
// same Ingresses, and Deployments that differ only in sidecar-related fields.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  HELMS,
  PLATFORM_CHART,
  ofKind,
  parseManifests,
  requireBin,
  shouldSkip,
  template,
  type K8sObject,
  type RenderOptions,
} from './helm.js';

/** Env the app container gets only with tailscale.proxy.enabled. */
const PROXY_ENV = new Set(['ALL_PROXY', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']);
/** Objects that exist only with the sidecars on (Secret: the empty node state Secret). */
const SIDECAR_ONLY_KINDS = ['Role', 'RoleBinding', 'Secret', 'ServiceAccount'];

/**
 * A Deployment with every sidecar-related field removed: the `tailscale` container, the
 * pod's serviceAccountName (sidecar account on, `default` off), the sidecar's volumes, the proxy env of the app container, and
 * the no-surge rollout strategy that keeps two pods from sharing one node state Secret.
 */
function withoutSidecar(deployment: K8sObject): K8sObject {
  const d = structuredClone(deployment);
  delete d.spec.strategy;
  const pod = d.spec.template.spec;
  delete pod.serviceAccountName;
  pod.containers = pod.containers.filter((c: { name: string }) => c.name !== 'tailscale');
  if (pod.initContainers) {
    pod.initContainers = pod.initContainers.filter((c: { name: string }) => c.name !== 'tailscale');
    if (pod.initContainers.length === 0) delete pod.initContainers;
  }
  for (const c of pod.containers) {
    if (c.env) {
      c.env = c.env.filter((e: { name: string }) => !PROXY_ENV.has(e.name));
      if (c.env.length === 0) delete c.env;
    }
  }
  if (pod.volumes) {
    pod.volumes = pod.volumes.filter((v: { name: string }) => !v.name.startsWith('tailscale-'));
    if (pod.volumes.length === 0) delete pod.volumes;
  }
  return d;
}

const sortByName = (objects: K8sObject[]) => [...objects].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));

const variants: Array<[string, RenderOptions]> = [
  ['defaults', {}],
  ['stt+tts enabled', { set: { 'services.stt.enabled': true, 'services.tts.enabled': true } }],
  [
    'custom ingress',
    {
      set: {
        'ingress.className': 'traefik',
        'ingress.annotations': { 'cert-manager.io/cluster-issuer': 'le' },
        'services.orchestrator.ingress.host': 'api.example.org',
      },
    },
  ],
];

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour}: sidecars on vs off`, () => {
    beforeAll(() => {
      requireBin(helm);
    });

    describe.each(variants)('%s', (_label, base) => {
      for (const proxy of [false, true]) {
        it(`differs only in sidecar objects and fields (proxy ${proxy ? 'on' : 'off'})`, async () => {
          const set = { ...base.set, 'tailscale.proxy.enabled': proxy };
          const off = parseManifests(await template(helm, PLATFORM_CHART, { set }));
          const on = parseManifests(
            await template(helm, PLATFORM_CHART, {
              set: { ...set, 'tailscale.enabled': true, 'tailscale.controlUrl': 'https://headscale.ozzu.world' },
            }),
          );

          expect(sortByName(ofKind(on, 'Ingress'))).toEqual(sortByName(ofKind(off, 'Ingress')));
          expect(sortByName(ofKind(on, 'Service'))).toEqual(sortByName(ofKind(off, 'Service')));

          const offDeployments = sortByName(ofKind(off, 'Deployment'));
          const onDeployments = sortByName(ofKind(on, 'Deployment'));
          expect(onDeployments.map((d) => d.metadata.name)).toEqual(offDeployments.map((d) => d.metadata.name));
          // Off, the pods run as `default` (set explicitly, see deployments.yaml); on, as the sidecar's account.
          for (const d of offDeployments) expect(d.spec.template.spec.serviceAccountName).toBe('default');
          expect(onDeployments.map(withoutSidecar)).toEqual(offDeployments.map(withoutSidecar));
          // ...and the sidecar really is there, one per Deployment.
          for (const d of onDeployments) {
            const pod = d.spec.template.spec;
            const names = [...(pod.initContainers ?? []), ...pod.containers].map((c: { name: string }) => c.name);
            expect(names.filter((n: string) => n === 'tailscale')).toHaveLength(1);
          }

          // Nothing disappears; what appears is the sidecar RBAC and state Secret.
          const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
          const offKeys = new Set(off.map(key));
          const onKeys = new Set(on.map(key));
          expect([...offKeys].filter((k) => !onKeys.has(k))).toEqual([]);
          const added = on.filter((o) => !offKeys.has(key(o)));
          expect(new Set(added.map((o) => o.kind))).toEqual(new Set(SIDECAR_ONLY_KINDS));
          expect(added).toHaveLength(SIDECAR_ONLY_KINDS.length * onDeployments.length);
        });
      }
    });
  });
}
