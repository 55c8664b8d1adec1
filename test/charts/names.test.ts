// The chart and the CLI must agree on every name: src/names.ts is the single source.
// Renders both charts and fails if they drift apart.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  AUTH_SECRET_DEFAULT,
  HEADSCALE_CONFIGMAP,
  HEADSCALE_CONTAINER,
  HEADSCALE_DEPLOYMENT,
  SIDECAR_CONTAINER,
  authKeyEntry,
  sidecarServiceAccount,
  stateSecretName,
  tailnetHostname,
  workloadName,
} from '../../src/names.js';
import { HEADSCALE_DEFAULT_VERSION } from '../../src/headscale/types.js';
import {
  HEADSCALE_CHART,
  HELMS,
  PLATFORM_CHART,
  byName,
  parseManifests,
  requireBin,
  shouldSkip,
  template,
  type K8sObject,
} from './helm.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  env?: EnvVar[];
}

const chartValues = parse(readFileSync(join(PLATFORM_CHART, 'values.yaml'), 'utf8')) as {
  services: Record<string, unknown>;
  tailscale: { authSecretName: string; authKeyRefs: Record<string, string> };
};
const SERVICES = Object.keys(chartValues.services);
/** A service the chart has never heard of: adding one must be values only. */
const EXTRA_SERVICE = 'asr';

function env(container: Container, name: string): EnvVar {
  const found = container.env?.find((e) => e.name === name);
  if (!found) throw new Error(`container ${container.name} has no env ${name}`);
  return found;
}

describe('chart defaults use src/names.ts', () => {
  it('lists the spec services', () => {
    expect(SERVICES).toEqual(expect.arrayContaining(['orchestrator', 'idp', 'stt', 'tts']));
  });
  it("headscale's image.tag and appVersion are the version june-ts deploys (the last of HEADSCALE_RELEASES)", () => {
    const hs = parse(readFileSync(join(HEADSCALE_CHART, 'values.yaml'), 'utf8')) as { image: { tag: string } };
    const chart = parse(readFileSync(join(HEADSCALE_CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    expect(hs.image.tag).toBe(HEADSCALE_DEFAULT_VERSION);
    expect(chart.appVersion).toBe(HEADSCALE_DEFAULT_VERSION);
  });
  it('authSecretName is AUTH_SECRET_DEFAULT', () => {
    expect(chartValues.tailscale.authSecretName).toBe(AUTH_SECRET_DEFAULT);
  });
  it.each(SERVICES)('authKeyRefs.%s is authKeyEntry()', (svc) => {
    expect(chartValues.tailscale.authKeyRefs[svc]).toBe(authKeyEntry(svc));
  });
});

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour}: rendered names match src/names.ts`, () => {
    let platform: K8sObject[] = [];
    let headscale: K8sObject[] = [];

    beforeAll(async () => {
      requireBin(helm);
      const set: Record<string, unknown> = {
        'tailscale.enabled': true,
        [`services.${EXTRA_SERVICE}`]: { enabled: true, image: 'example/asr:1', port: 9000, replicas: 1 },
        [`tailscale.authKeyRefs.${EXTRA_SERVICE}`]: authKeyEntry(EXTRA_SERVICE),
      };
      for (const svc of SERVICES) set[`services.${svc}.enabled`] = true;
      platform = parseManifests(await template(helm, PLATFORM_CHART, { set }));
      headscale = parseManifests(await template(helm, HEADSCALE_CHART));
    });

    it.each([...SERVICES, EXTRA_SERVICE])('june-platform: %s', (svc) => {
      const deployment = byName(platform, 'Deployment', workloadName(svc));
      expect(byName(platform, 'Service', workloadName(svc)).spec.selector).toEqual(deployment.spec.selector.matchLabels);

      const pod = deployment.spec.template.spec as { serviceAccountName: string; containers: Container[]; initContainers?: Container[] };
      expect(pod.serviceAccountName).toBe(sidecarServiceAccount(svc));
      const sidecar = [...(pod.initContainers ?? []), ...pod.containers].find((c) => c.name === SIDECAR_CONTAINER);
      expect(sidecar, `no ${SIDECAR_CONTAINER} container in ${workloadName(svc)}`).toBeDefined();
      if (!sidecar) return;

      // The key only ever travels as a secretKeyRef, never as a plain value.
      const authKey = env(sidecar, 'TS_AUTHKEY');
      expect(authKey.value).toBeUndefined();
      expect(authKey.valueFrom?.secretKeyRef).toEqual({ name: AUTH_SECRET_DEFAULT, key: authKeyEntry(svc) });
      expect(env(sidecar, 'TS_HOSTNAME').value).toBe(tailnetHostname(svc));
      expect(env(sidecar, 'TS_KUBE_SECRET').value).toBe(stateSecretName(svc));

      const sa = byName(platform, 'ServiceAccount', sidecarServiceAccount(svc));
      expect(sa.metadata.name).toBe(sidecarServiceAccount(svc));
      const role = byName(platform, 'Role', sidecarServiceAccount(svc));
      const named = (role.rules as Array<{ resources: string[]; resourceNames?: string[]; verbs: string[] }>).find(
        (r) => r.resources.includes('secrets') && r.resourceNames,
      );
      expect(named?.resourceNames).toEqual([stateSecretName(svc)]);
      expect(named?.verbs).toEqual(['get', 'update', 'patch']);
      expect(
        role.rules.some((r: { verbs: string[]; resources: string[] }) => r.resources.includes('secrets') && r.verbs.includes('create')),
      ).toBe(false);
      byName(platform, 'Secret', stateSecretName(svc));
      const binding = byName(platform, 'RoleBinding', sidecarServiceAccount(svc));
      expect(binding.roleRef.name).toBe(sidecarServiceAccount(svc));
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sidecarServiceAccount(svc), namespace: 'june-services' }]);
    });

    it('no annotation or plain env value anywhere carries an auth-key-looking string', () => {
      const json = JSON.stringify(platform);
      expect(json).not.toMatch(/(tskey|hskey)-/);
    });

    it('headscale: Deployment, container and ConfigMap names', () => {
      const deployment = byName(headscale, 'Deployment', HEADSCALE_DEPLOYMENT);
      const containers = deployment.spec.template.spec.containers as Container[];
      expect(containers.map((c) => c.name)).toEqual([HEADSCALE_CONTAINER]);
      byName(headscale, 'ConfigMap', HEADSCALE_CONFIGMAP);
      const volumes = deployment.spec.template.spec.volumes as Array<{ configMap?: { name: string } }>;
      expect(volumes.some((v) => v.configMap?.name === HEADSCALE_CONFIGMAP)).toBe(true);
    });

    it('headscale names do not depend on the release name', async () => {
      const other = parseManifests(await template(helm, HEADSCALE_CHART, { release: 'something-else' }));
      byName(other, 'Deployment', HEADSCALE_DEPLOYMENT);
      byName(other, 'ConfigMap', HEADSCALE_CONFIGMAP);
    });
  });
}
