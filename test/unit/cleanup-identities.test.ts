// cleanup's Headscale steps remove what june-ts registered for its services under either
// identity (user june-<svc> or tag tag:june-<svc>), whichever TAILNET_IDENTITY was in force,
// and nothing of anyone else; --purge deletes the keys owned by the services' tags.
import { describe, expect, it } from 'vitest';
import { cleanupPhases, type CleanupData } from '../../src/phases/cleanup.js';
import { testContext, testRun } from '../helpers/context.js';
import { FakeHeadscale, FakeKube, fakeDeployment, fakeNode } from '../helpers/fake-seams.js';

class HeadscaleDeployed extends FakeKube {
  async getDeployment(_namespace: string, name: string) {
    return fakeDeployment(name);
  }
}

const step = (id: string) => cleanupPhases.children!.find((p) => p.id === id)!;

async function world(identity: 'user' | 'tag') {
  const hs = new FakeHeadscale();
  for (const tag of ['tag:june-orchestrator', 'tag:june-idp', 'tag:payments'])
    await hs.createPreAuthKey({ tag }, { reusable: true, expiration: '1d' });
  const [alice] = await hs.ensureUsers(['alice']);
  await hs.createPreAuthKey(alice!, { reusable: true, expiration: '1d' });
  hs.nodes = [
    fakeNode('1', 'june-orchestrator', 'tagged-devices', ['tag:june-orchestrator']),
    fakeNode('2', 'june-idp', 'june-idp'), // registered while TAILNET_IDENTITY=user
    fakeNode('3', 'payments', 'tagged-devices', ['tag:payments']),
    fakeNode('4', 'laptop', 'alice'),
  ];
  const ctx = testContext({
    env: { TAILNET_IDENTITY: identity },
    kube: async () => new HeadscaleDeployed() as never,
    headscale: async () => hs,
  });
  return { hs, run: testRun<CleanupData>(ctx, { purge: true, all: false, cleaned: 0 }) };
}

describe('cleanup of either identity', () => {
  for (const identity of ['user', 'tag'] as const) {
    it(`TAILNET_IDENTITY=${identity}: the services' nodes go, owned by a tag or a user; nobody else's`, async () => {
      const { hs, run } = await world(identity);
      await step('nodes').run!(run);
      expect(hs.nodes.map((n) => n.name)).toEqual(['payments', 'laptop']);
      expect(run.data.cleaned).toBe(2);
    });
  }

  it("--purge deletes the keys owned by the services' tags, and keeps other tags' and users' keys", async () => {
    const { hs, run } = await world('tag');
    await step('purge').run!(run);
    expect(hs.keys.map((k) => k.aclTags?.[0] ?? k.user)).toEqual(['tag:payments', 'alice']);
    expect(hs.deleted).toHaveLength(2);
    expect(hs.users.map((u) => u.name)).toEqual(['alice']);
  });

  it('--purge before 0.28 (no tag-owned keys) asks for none', async () => {
    const { hs, run } = await world('user');
    hs.tags = false;
    const listed = hs.listed.length;
    await step('purge').run!(run);
    expect(hs.listed).toHaveLength(listed);
    expect(hs.deleted).toEqual([]);
  });
});
