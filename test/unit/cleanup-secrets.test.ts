// cleanup's Secrets step: june-ts's auth Secret is deleted; one that also holds entries that
// are not june-ts's keeps them (only june-ts's entries and annotations go).
import { describe, expect, it } from 'vitest';
import type { SecretInfo } from '../../src/kube/types.js';
import { cleanupPhases, type CleanupData } from '../../src/phases/cleanup.js';
import { testContext, testRun } from '../helpers/context.js';
import { FakeKube } from '../helpers/fake-seams.js';

class CleanupKube extends FakeKube {
  deleted: string[] = [];
  async deleteSecret(namespace: string, name: string) {
    this.deleted.push(name);
    return this.secrets.delete(`${namespace}/${name}`);
  }
  async restoreSecret(namespace: string, name: string, previous: SecretInfo | null) {
    if (previous) this.secrets.set(`${namespace}/${name}`, { ...previous, resourceVersion: 'restored' });
  }
}

const secretsStep = cleanupPhases.children!.find((p) => p.id === 'secrets')!;

async function cleanup(kube: CleanupKube) {
  const ctx = testContext({ kube: async () => kube as never });
  const run = testRun<CleanupData>(ctx, { purge: false, all: false, cleaned: 0 });
  await secretsStep.run!(run);
  return run.data.cleaned;
}

function authSecret(data: Record<string, string>): SecretInfo {
  return {
    name: 'headscale-auth-keys',
    namespace: 'june-services',
    data,
    labels: { 'app.kubernetes.io/managed-by': 'june-ts', team: 'payments' },
    annotations: { 'june-ts.dev/minted-keys': JSON.stringify({ orchestrator: '1', idp: '2', stt: '3' }), owner: 'payments' },
    resourceVersion: '7',
  };
}

describe('cleanup/secrets', () => {
  it("deletes an auth Secret that holds only june-ts's entries (also of services no longer configured)", async () => {
    const kube = new CleanupKube();
    kube.secrets.set(
      'june-services/headscale-auth-keys',
      authSecret({ 'june-orchestrator-authkey': 'k1', 'june-idp-authkey': 'k2', 'june-stt-authkey': 'k3' }),
    );
    expect(await cleanup(kube)).toBe(1);
    expect(kube.deleted).toContain('headscale-auth-keys');
    expect(kube.secrets.size).toBe(0);
  });

  it("keeps entries that are not june-ts's: removes only june-ts's entries, annotations and label", async () => {
    const kube = new CleanupKube();
    kube.secrets.set(
      'june-services/headscale-auth-keys',
      authSecret({ 'june-orchestrator-authkey': 'k1', 'june-idp-authkey': 'k2', 'payments-authkey': 'theirs', 'ci-token': 'theirs2' }),
    );
    expect(await cleanup(kube)).toBe(1);
    expect(kube.deleted).not.toContain('headscale-auth-keys');
    const kept = kube.secrets.get('june-services/headscale-auth-keys')!;
    expect(kept.data).toEqual({ 'payments-authkey': 'theirs', 'ci-token': 'theirs2' });
    expect(kept.annotations).toEqual({ owner: 'payments' });
    expect(kept.labels).toEqual({ team: 'payments' });
  });
});
