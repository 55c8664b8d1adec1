// An independent check of the renders: every object validated against the Kubernetes API
// schema as packaged by kubernetes-models (OpenAPI of Kubernetes 1.34: field types,
// enums, required fields; it does not flag unknown fields).
import { beforeAll, describe, expect, it } from 'vitest';
import {
  HEADSCALE_CHART,
  HELMS,
  PLATFORM_CHART,
  parseManifests,
  requireBin,
  shouldSkip,
  template,
  type K8sObject,
  type RenderOptions,
} from './helm.js';

const ON = { valuesFiles: ['values-headscale.yaml'] } satisfies RenderOptions;

const renders: Array<[string, string, RenderOptions]> = [
  [
    'june-platform, sidecars off, every option',
    PLATFORM_CHART,
    {
      set: {
        'services.stt.enabled': true,
        'services.tts.enabled': true,
        'serviceDefaults.tolerations': [{ key: 'dedicated', operator: 'Equal', value: 'june', effect: 'NoSchedule' }],
        'serviceDefaults.imagePullSecrets': [{ name: 'regcred' }],
        'serviceDefaults.priorityClassName': 'june',
        'serviceDefaults.podAnnotations': { a: 'b' },
        'serviceDefaults.topologySpreadConstraints': [
          { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' },
        ],
        'services.orchestrator.extraVolumes': [{ name: 'cache', emptyDir: {} }],
        'services.orchestrator.extraVolumeMounts': [{ name: 'cache', mountPath: '/cache' }],
      },
    },
  ],
  [
    'june-platform, sidecars on (native)',
    PLATFORM_CHART,
    { ...ON, set: { 'services.stt.enabled': true, 'tailscale.proxy.enabled': true } },
  ],
  ['june-platform, sidecars on (plain container, Kubernetes 1.32)', PLATFORM_CHART, { ...ON, kubeVersion: '1.32.0' }],
  [
    'june-platform, kernel mode, ephemeral state',
    PLATFORM_CHART,
    { ...ON, set: { 'tailscale.userspace': false, 'tailscale.allowKernelMode': true, 'tailscale.state.persist': false } },
  ],
  ['headscale', HEADSCALE_CHART, {}],
  [
    'headscale, embedded DERP, gRPC, metrics',
    HEADSCALE_CHART,
    {
      set: {
        'headscale.derp.server.enabled': true,
        'headscale.grpc.enabled': true,
        'service.exposeMetrics': true,
        'headscale.metricsListenAddr': '0.0.0.0:9090',
      },
    },
  ],
];

/** The kubernetes-models class for an object, by its apiVersion and kind. */
async function modelOf(obj: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const path = `kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`;
  const mod = (await import(path)) as Record<string, new (data: unknown) => { validate(): void }>;
  const model = mod[obj.kind];
  if (!model) throw new Error(`${path} has no ${obj.kind}`);
  return model;
}

async function violations(objects: K8sObject[]): Promise<string[]> {
  const found: string[] = [];
  for (const obj of objects) {
    const Model = await modelOf(obj);
    try {
      new Model(obj).validate();
    } catch (e) {
      found.push(`${obj.kind}/${obj.metadata.name}: ${(e as Error).message}`);
    }
  }
  return found;
}

describe('kubernetes-models validation', () => {
  it('catches a wrongly typed field and a missing required one', async () => {
    const bad: K8sObject[] = [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'a' },
        spec: { selector: {}, template: { spec: { containers: [{ name: 'x', ports: [{ containerPort: 'http' }] }] } } },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b' }, spec: { ports: [{ name: 'http' }] } },
    ];
    const found = await violations(bad);
    expect(found[0]).toMatch(/Deployment\/a: .*containerPort must be integer/);
    expect(found[1]).toMatch(/Service\/b: .*must have required property '?port'?/);
  });
});

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour}: rendered objects match the Kubernetes API schema`, () => {
    beforeAll(() => {
      requireBin(helm);
    });
    it.each(renders)('%s', async (_label, chart, opts) => {
      const objects = parseManifests(await template(helm, chart, opts));
      expect(objects.length).toBeGreaterThan(0);
      expect(await violations(objects)).toEqual([]);
    });
  });
}
