// `helm lint --strict` of both charts, with the real Helm 3 and Helm 4 clients.
import { beforeAll, describe, expect, it } from 'vitest';
import { HEADSCALE_CHART, HELMS, PLATFORM_CHART, lint, requireBin, shouldSkip, type RenderOptions } from './helm.js';

const cases: Array<[string, string, RenderOptions]> = [
  ['june-platform (defaults: sidecars off)', PLATFORM_CHART, {}],
  ['june-platform (values-headscale.yaml)', PLATFORM_CHART, { valuesFiles: ['values-headscale.yaml'] }],
  [
    'june-platform (sidecars on, stt+tts, proxy)',
    PLATFORM_CHART,
    {
      valuesFiles: ['values-headscale.yaml'],
      set: { 'services.stt.enabled': true, 'services.tts.enabled': true, 'tailscale.proxy.enabled': true },
    },
  ],
  ['headscale (defaults)', HEADSCALE_CHART, {}],
  [
    'headscale (embedded DERP, gRPC, existing claim)',
    HEADSCALE_CHART,
    { set: { 'headscale.derp.server.enabled': true, 'headscale.grpc.enabled': true, 'persistence.existingClaim': 'hs-data' } },
  ],
];

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour} lint --strict`, () => {
    beforeAll(() => {
      requireBin(helm);
    });
    it.each(cases)('%s', async (_label, chart, opts) => {
      const res = await lint(helm, chart, opts);
      expect(res.stderr + res.stdout).toContain('0 chart(s) failed');
      expect(res.code, res.stdout + res.stderr).toBe(0);
    });
  });
}
