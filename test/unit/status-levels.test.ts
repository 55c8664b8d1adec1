// status's key levels: amber (warn, exit 0) when a key expires within KEY_RENEW_BEFORE,
// red (error, exit 4) once it has expired; each names the service and the date.
import { describe, expect, it } from 'vitest';
import { collectHealth } from '../../src/health/report.js';
import type { DeploymentInfo, KubeClient } from '../../src/kube/types.js';
import { testContext } from '../helpers/context.js';
import { fakeDeployment, FakeHeadscale, FakeKube } from '../helpers/fake-seams.js';

const DAY = 86_400_000;

class StatusKube extends FakeKube {
  async getDeployment(namespace: string, name: string): Promise<DeploymentInfo> {
    return fakeDeployment(name, { namespace });
  }
  async listPods(namespace: string, selector: string) {
    const name = selector.split('=')[1]!;
    return [
      {
        name: `${name}-0`,
        namespace,
        phase: 'Running',
        labels: {},
        deletionTimestamp: undefined,
        containers: [{ name: 'tailscale', ready: true, restartCount: 0 }],
      },
    ];
  }
}

/** Two services whose keys expire in `days` days (negative: expired that long ago). */
async function report(days: Record<'orchestrator' | 'idp', number>, env: Record<string, string> = {}) {
  const kube = new StatusKube();
  const hs = new FakeHeadscale();
  const data: Record<string, string> = {};
  for (const svc of ['orchestrator', 'idp'] as const) {
    const [user] = await hs.ensureUsers([`june-${svc}`]);
    const key = await hs.createPreAuthKey(user!, { reusable: true, expiration: '180d' });
    key.expiration = new Date(Date.now() + days[svc] * DAY + 3600_000);
    data[`june-${svc}-authkey`] = key.key;
    hs.nodes.push({
      id: String(hs.nodes.length + 1),
      name: `june-${svc}`,
      givenName: `june-${svc}`,
      user: `june-${svc}`,
      ipAddresses: ['100.64.0.1'],
      online: true,
    });
  }
  await kube.applySecret({ namespace: 'june-services', name: 'headscale-auth-keys', stringData: data });
  const ctx = testContext({ env, kube: async () => kube as unknown as KubeClient, headscale: async () => hs });
  return collectHealth(ctx);
}

describe('status key levels', () => {
  it('amber within KEY_RENEW_BEFORE (default 30d), naming the date; green outside it', async () => {
    const r = await report({ orchestrator: 20, idp: 90 });
    const orch = r.services.find((s) => s.service === 'orchestrator')!;
    expect(orch.level).toBe('warn');
    expect(orch.key.problem).toMatch(
      /^the key expires on \d{4}-\d{2}-\d{2} \(in 20 day\(s\), within KEY_RENEW_BEFORE=30d\): run june-ts rotate-keys$/,
    );
    expect(r.services.find((s) => s.service === 'idp')!.level).toBe('ok');
    expect(r.level).toBe('warn');
  });

  it('the margin is KEY_RENEW_BEFORE, not a fixed number of days', async () => {
    const r = await report({ orchestrator: 20, idp: 90 }, { KEY_RENEW_BEFORE: '7d' });
    expect(r.services.map((s) => s.level)).toEqual(['ok', 'ok']);
    const wide = await report({ orchestrator: 20, idp: 90 }, { KEY_RENEW_BEFORE: '100d' });
    expect(wide.services.map((s) => s.level)).toEqual(['warn', 'warn']);
  });

  it('red once a key has expired', async () => {
    const r = await report({ orchestrator: 40, idp: -2 });
    const idp = r.services.find((s) => s.service === 'idp')!;
    expect(idp.level).toBe('error');
    expect(idp.key.problem).toBe('the key has expired');
    expect(idp.key.expiration).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(r.level).toBe('error');
  });
});
