// TAILSCALE_SERVICES against what the platform chart runs: checked in preflight, before any write.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { HelmClient } from '../../src/helm/types.js';
import { assertServicesRun, serviceProblems } from '../../src/phases/platform-services.js';
import { testContext } from '../helpers/context.js';

const CHART = { services: { orchestrator: { enabled: true }, idp: { enabled: true }, stt: { enabled: false }, tts: { enabled: false } } };

describe('serviceProblems', () => {
  it('accepts services the chart enables by default', () => {
    expect(serviceProblems(['orchestrator', 'idp'], CHART, {}, 'june-platform')).toEqual([]);
  });

  it('names a known but disabled service with the values line that enables it', () => {
    expect(serviceProblems(['orchestrator', 'stt'], CHART, {}, 'june-platform')).toEqual([
      'TAILSCALE_SERVICES: \'stt\' is not enabled in release june-platform (services.stt.enabled is false) — set services.stt.enabled=true (a PLATFORM_VALUES file with "services: {stt: {enabled: true}}"), or remove stt from TAILSCALE_SERVICES',
    ]);
  });

  it('a service enabled by the release values or a values file passes; one disabled there is refused', () => {
    expect(serviceProblems(['stt'], CHART, { services: { stt: { enabled: true } } }, 'r')).toEqual([]);
    expect(serviceProblems(['idp'], CHART, { services: { idp: { enabled: false } } }, 'r')).toEqual([
      expect.stringContaining("'idp' is not enabled in release r (services.idp.enabled is false) — set services.idp.enabled=true"),
    ]);
  });

  it('names a service neither the chart nor the values define, with a suggestion when one is close', () => {
    const tail = 'remove it from TAILSCALE_SERVICES, or define services.X (image, port, enabled: true) in a PLATFORM_VALUES file';
    expect(serviceProblems(['sst', 'billing'], CHART, {}, 'r')).toEqual([
      `TAILSCALE_SERVICES: 'sst' is not a service of release r (neither the chart nor its values define services.sst; it has orchestrator, idp, stt, tts) — did you mean stt? ${tail.replace('X', 'sst')}`,
      `TAILSCALE_SERVICES: 'billing' is not a service of release r (neither the chart nor its values define services.billing; it has orchestrator, idp, stt, tts) — ${tail.replace('X', 'billing')}`,
    ]);
  });

  it('a service the values define and enable runs (the chart ranges over services), defined but not enabled does not', () => {
    expect(serviceProblems(['billing'], CHART, { services: { billing: { enabled: true, image: 'b:1', port: 80 } } }, 'r')).toEqual([]);
    expect(serviceProblems(['billing'], CHART, { services: { billing: { image: 'b:1' } } }, 'r')).toEqual([
      expect.stringContaining("'billing' is not enabled in release r (services.billing.enabled is false)"),
    ]);
  });

  it('a chart without a services map is not judged', () => {
    expect(serviceProblems(['anything'], { image: 'x' }, {}, 'r')).toEqual([]);
  });
});

describe('assertServicesRun', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'june-ts-svc-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const chart = join(tmp, 'chart');
  mkdirSync(chart);
  writeFileSync(join(chart, 'values.yaml'), 'services:\n  orchestrator:\n    enabled: true\n  stt:\n    enabled: false\n');
  const enableStt = join(tmp, 'stt.yaml');
  writeFileSync(enableStt, 'services:\n  stt:\n    enabled: true\n');
  const helmWith = (values: Record<string, unknown> | null) => async () => ({ values: async () => values }) as unknown as HelmClient;

  it('reads the chart defaults, the release values and PLATFORM_VALUES, in that order', async () => {
    const env = { TAILSCALE_SERVICES: 'orchestrator,stt', PLATFORM_CHART: chart };
    const refused = testContext({ env, helm: helmWith(null) });
    await expect(assertServicesRun(refused)).rejects.toThrow(ConfigError);
    await expect(assertServicesRun(refused)).rejects.toThrow(/'stt' is not enabled in release june-platform/);
    await expect(
      assertServicesRun(testContext({ env, helm: helmWith({ services: { stt: { enabled: true } } }) })),
    ).resolves.toBeUndefined();
    await expect(
      assertServicesRun(testContext({ env: { ...env, PLATFORM_VALUES: enableStt }, helm: helmWith({}) })),
    ).resolves.toBeUndefined();
  });
});
