// Phase 11.2's users → keys → secret chain with fake seams: kept and minted keys, the
// minted-keys record, no write when nothing changed, and keys saved when minting fails part-way.
import { describe, expect, it } from 'vitest';
import { ApiUnreachableError, PreflightError } from '../../src/errors.js';
import { assumedVersion } from '../../src/headscale/types.js';
import {
  ensureOwnersPhase,
  resolveKeysPhase,
  sidecarsData,
  sidecarsReads,
  writeSecretPhase,
  type SidecarsData,
} from '../../src/phases/sidecars.js';
import type { WorkflowRun } from '../../src/context.js';
import { testContext, testRun } from '../helpers/context.js';
import { FakeHeadscale, FakeKube } from '../helpers/fake-seams.js';

function context(kube: FakeKube, hs: FakeHeadscale, services = 'orchestrator,idp', identity = 'user'): WorkflowRun<SidecarsData> {
  const ctx = testContext({
    env: { TAILSCALE_SERVICES: services, TAILNET_IDENTITY: identity },
    kube: async () => kube as never,
    headscale: async () => hs,
  });
  return testRun(ctx, sidecarsData(ctx.config.services));
}

async function run112(ctx: WorkflowRun<SidecarsData>) {
  await ensureOwnersPhase(ctx);
  await resolveKeysPhase(ctx);
  await writeSecretPhase(ctx);
}

describe('11.2 users, keys, secret', () => {
  it('mints one reusable key per service and records their ids, not the keys', async () => {
    const kube = new FakeKube();
    const hs = new FakeHeadscale();
    await run112(context(kube, hs));
    const s = await kube.getSecret('june-services', 'headscale-auth-keys');
    expect(Object.keys(s!.data).sort()).toEqual(['june-idp-authkey', 'june-orchestrator-authkey']);
    expect(hs.keys.map((k) => k.reusable)).toEqual([true, true]);
    const record = JSON.parse(s!.annotations['june-ts.dev/minted-keys']!);
    expect(Object.values(record).sort()).toEqual(hs.keys.map((k) => k.id).sort());
    expect(JSON.stringify(s!.annotations)).not.toContain('secret');
    expect(s!.labels['app.kubernetes.io/managed-by']).toBe('june-ts');
  });

  it('a Secret that cannot be written: the keys minted in this run are deleted (0.28+) or expired, not left valid and unheld', async () => {
    for (const deletes of [true, false]) {
      const kube = new FakeKube();
      const hs = new FakeHeadscale();
      hs.deletes = deletes;
      kube.applySecret = async () => {
        throw new ApiUnreachableError(
          'cannot reach the Kubernetes API server at https://127.0.0.1:6443 (apply Secret june-services/headscale-auth-keys)',
        );
      };
      const ctx = context(kube, hs);
      await ensureOwnersPhase(ctx);
      await resolveKeysPhase(ctx);
      const minted = [...hs.keys];
      const err = (await writeSecretPhase(ctx).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(ApiUnreachableError);
      expect(err.message).toMatch(
        new RegExp(
          `\n {2}the 2 key\\(s\\) minted in this run \\(orchestrator, idp\\) were not saved, so they were ${deletes ? 'deleted' : 'expired'} in Headscale; a re-run mints new ones$`,
        ),
      );
      if (deletes) expect(hs.keys).toEqual([]);
      else for (const k of hs.keys) expect(k.expiration!.getTime()).toBeLessThan(Date.now());
      for (const k of minted) expect(err.message).not.toContain(k.key);
    }
  });

  it('a second run keeps every key and does not write the Secret', async () => {
    const kube = new FakeKube();
    const hs = new FakeHeadscale();
    await run112(context(kube, hs));
    const before = { ...(await kube.getSecret('june-services', 'headscale-auth-keys'))! };
    expect(hs.listed).toEqual([]); // nothing in the Secret to check: no list round trip
    await run112(context(kube, hs));
    expect(hs.listed).toEqual([['june-orchestrator', 'june-idp']]);
    expect(kube.applies).toBe(1);
    expect(hs.keys).toHaveLength(2);
    expect((await kube.getSecret('june-services', 'headscale-auth-keys'))!.resourceVersion).toBe(before.resourceVersion);
  });

  it('adds a new service without touching the others, keeping entries it does not own', async () => {
    const kube = new FakeKube();
    const hs = new FakeHeadscale();
    await run112(context(kube, hs));
    const s = (await kube.getSecret('june-services', 'headscale-auth-keys'))!;
    s.data['someone-elses-entry'] = 'x';
    const orchestrator = s.data['june-orchestrator-authkey'];
    await run112(context(kube, hs, 'orchestrator,idp,stt'));
    const after = (await kube.getSecret('june-services', 'headscale-auth-keys'))!;
    expect(after.data['june-orchestrator-authkey']).toBe(orchestrator);
    expect(after.data['june-stt-authkey']).toMatch(/^hskey-auth-/);
    expect(after.data['someone-elses-entry']).toBe('x');
    expect(hs.users.map((u) => u.name)).toEqual(['june-orchestrator', 'june-idp', 'june-stt']);
  });

  it('when minting fails part-way, the keys already minted are saved; a re-run mints only the rest', async () => {
    const kube = new FakeKube();
    const hs = new FakeHeadscale();
    hs.failMintFor.add('june-idp');
    const ctx = context(kube, hs);
    await ensureOwnersPhase(ctx);
    await expect(resolveKeysPhase(ctx)).rejects.toThrow(/connection refused \(minting for june-idp\)/);
    const saved = (await kube.getSecret('june-services', 'headscale-auth-keys'))!;
    expect(Object.keys(saved.data)).toEqual(['june-orchestrator-authkey']);
    hs.failMintFor.clear();
    await run112(context(kube, hs));
    expect(hs.keys).toHaveLength(2); // not 3: orchestrator's key was kept
    const after = (await kube.getSecret('june-services', 'headscale-auth-keys'))!;
    expect(after.data['june-orchestrator-authkey']).toBe(saved.data['june-orchestrator-authkey']);
  });

  it('re-mints an expired key and a garbage value, keeps the valid one', async () => {
    const kube = new FakeKube();
    const hs = new FakeHeadscale();
    await run112(context(kube, hs));
    const s = (await kube.getSecret('june-services', 'headscale-auth-keys'))!;
    const idpKey = hs.keys.find((k) => k.user === 'june-idp')!;
    idpKey.expiration = new Date(Date.now() - 1);
    s.data['june-orchestrator-authkey'] = 'garbage';
    const ctx = context(kube, hs);
    await run112(ctx);
    expect([...ctx.data.keys.get().values()].map((k) => [k.service, k.minted, k.reason])).toEqual([
      ['orchestrator', true, 'the key in the Secret is unknown to Headscale (deleted, garbage, or from another server)'],
      ['idp', true, 'the key has expired'],
    ]);
  });

  it('TAILNET_IDENTITY=tag: no user, one key per service owned by tag:june-<svc>; a second run keeps them', async () => {
    const kube = new FakeKube();
    const hs = new FakeHeadscale();
    await run112(context(kube, hs, 'orchestrator,idp', 'tag'));
    expect(hs.users).toEqual([]);
    expect(hs.keys.map((k) => [k.user, k.aclTags])).toEqual([
      ['', ['tag:june-orchestrator']],
      ['', ['tag:june-idp']],
    ]);
    const before = (await kube.getSecret('june-services', 'headscale-auth-keys'))!;
    await run112(context(kube, hs, 'orchestrator,idp', 'tag'));
    expect(hs.listed).toEqual([['tag:june-orchestrator', 'tag:june-idp']]);
    expect(hs.keys).toHaveLength(2);
    expect((await kube.getSecret('june-services', 'headscale-auth-keys'))!.resourceVersion).toBe(before.resourceVersion);
  });

  it('switching a service from user to tag identity replaces its user-owned key with a tagged one', async () => {
    const kube = new FakeKube();
    const hs = new FakeHeadscale();
    await run112(context(kube, hs));
    const ctx = context(kube, hs, 'orchestrator,idp', 'tag');
    await run112(ctx);
    expect([...ctx.data.keys.get().values()].map((k) => [k.service, k.minted])).toEqual([
      ['orchestrator', true],
      ['idp', true],
    ]);
    expect(hs.keys.filter((k) => k.aclTags).map((k) => k.aclTags)).toEqual([['tag:june-orchestrator'], ['tag:june-idp']]);
  });

  it('TAILNET_IDENTITY=tag on a Headscale without tag-owned keys: refused before any user, key or Secret is made', async () => {
    const kube = new FakeKube();
    const hs = new FakeHeadscale();
    hs.tags = false;
    const err = (await ensureOwnersPhase(context(kube, hs, 'orchestrator,idp', 'tag')).catch((e: unknown) => e)) as PreflightError;
    expect(err).toBeInstanceOf(PreflightError);
    expect(err.message).toMatch(/^TAILNET_IDENTITY=tag needs Headscale 0\.28\+ .* this Headscale is v0\.26\.1/);
    expect(hs.users).toEqual([]);
    expect(hs.keys).toEqual([]);
    expect(await kube.getSecret('june-services', 'headscale-auth-keys')).toBeNull();
  });
});

describe("11.2's reads started during preflight", () => {
  const v = (minor: number) => assumedVersion(`0.${minor}.1`);
  const reads = async (env: Record<string, string>, minor: number, skip: string[] = [], secret = true) => {
    const kube = new FakeKube();
    if (secret)
      await kube.applySecret({
        namespace: 'june-services',
        name: 'headscale-auth-keys',
        stringData: { 'june-idp-authkey': 'k' },
      });
    const ctx = testContext({ env: { TAILSCALE_SERVICES: 'orchestrator,idp', ...env }, kube: async () => kube as never });
    return sidecarsReads(
      testRun(ctx, sidecarsData(ctx.config.services), (id) => !skip.includes(id)),
      v(minor),
    );
  };

  it('are the reads its steps make before their first write, per identity, policy mode and Headscale generation', async () => {
    expect(await reads({}, 29)).toEqual(['users', 'keys', 'policy', 'nodes']);
    expect(await reads({}, 26)).toEqual(['users', 'keys', 'policy']);
    expect(await reads({ TAILNET_IDENTITY: 'tag' }, 29)).toEqual(['keys', 'policy', 'nodes']);
    expect(await reads({ TAILNET_POLICY: 'off' }, 29)).toEqual(['users', 'keys']);
    expect(await reads({}, 29, ['11.2-headscale-sidecars/policy', '11.2-headscale-sidecars/keys'])).toEqual(['users']);
  });

  it('leave the keys out when the Secret holds none of the services (a first run lists no keys)', async () => {
    expect(await reads({}, 29, [], false)).toEqual(['users', 'policy', 'nodes']);
  });
});
