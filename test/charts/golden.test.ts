// Golden renders. Helm 3 and Helm 4 must render byte-identical manifests: both compare
// against the same file.
import { beforeAll, describe, expect, it } from 'vitest';
import { HEADSCALE_CHART, HELMS, PLATFORM_CHART, requireBin, shouldSkip, template, type RenderOptions } from './helm.js';

const ON = { valuesFiles: ['values-headscale.yaml'] } satisfies RenderOptions;

const goldens: Array<[string, string, RenderOptions]> = [
  ['platform-sidecars-off', PLATFORM_CHART, {}],
  ['platform-sidecars-on', PLATFORM_CHART, ON],
  ['platform-sidecars-on-stt-tts', PLATFORM_CHART, { ...ON, set: { 'services.stt.enabled': true, 'services.tts.enabled': true } }],
  ['platform-sidecars-on-proxy', PLATFORM_CHART, { ...ON, set: { 'tailscale.proxy.enabled': true } }],
  // Native sidecars are automatic from Kubernetes 1.33 (renders assume RENDER_KUBE_VERSION).
  ['platform-sidecars-on-kube-1.32', PLATFORM_CHART, { ...ON, kubeVersion: '1.32.0' }],
  // replicas > 1 is only renderable without persisted state (see validation.test.ts for the refusal).
  [
    'platform-sidecars-on-replicas2-ephemeral',
    PLATFORM_CHART,
    { ...ON, set: { 'services.orchestrator.replicas': 2, 'tailscale.state.persist': false } },
  ],
  ['headscale-default', HEADSCALE_CHART, {}],
  [
    'headscale-embedded-derp',
    HEADSCALE_CHART,
    { set: { 'headscale.derp.server.enabled': true, 'headscale.derp.urls': [], 'headscale.grpc.enabled': true } },
  ],
  [
    'headscale-0.26-metrics',
    HEADSCALE_CHART,
    { set: { 'image.tag': '0.26.1', 'service.exposeMetrics': true, 'headscale.metricsListenAddr': '0.0.0.0:9090' } },
  ],
];

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour} golden renders`, () => {
    beforeAll(() => {
      requireBin(helm);
    });
    it.each(goldens)('%s', async (name, chart, opts) => {
      await expect(await template(helm, chart, opts)).toMatchFileSnapshot(`./__golden__/${name}.yaml`);
    });
  });
}
