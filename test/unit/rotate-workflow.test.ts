// The rotate workflow undoes itself: a failure after the new keys were written puts the
// auth Secret back as it was (old keys stay valid), and says so.
import { describe, expect, it } from 'vitest';
import { ExternalError, PhaseError } from '../../src/errors.js';
import type { SecretInfo } from '../../src/kube/types.js';
import { WriteGate } from '../../src/write-gate.js';
import { rotateData } from '../../src/phases/rotate.js';
import { runPhases, selectPhases } from '../../src/phases/engine.js';
import { WORKFLOWS } from '../../src/phases/workflows.js';
import { Logger } from '../../src/ui/logger.js';
import { testContext, testRun } from '../helpers/context.js';
import { FakeHeadscale, FakeKube } from '../helpers/fake-seams.js';

class RotateKube extends FakeKube {
  restored: (SecretInfo | null)[] = [];
  async restoreSecret(namespace: string, name: string, previous: SecretInfo | null) {
    this.restored.push(previous);
    if (previous) this.secrets.set(`${namespace}/${name}`, previous);
    else this.secrets.delete(`${namespace}/${name}`);
  }
  async getDeployment(): Promise<never> {
    throw new ExternalError('read Deployment june-services/june-orchestrator: connection refused');
  }
}

function rotateRun(kube: RotateKube, hs: FakeHeadscale) {
  const warnings: string[] = [];
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  const log = new Logger({ stdout: sink, stderr: sink, color: false });
  log.warn = (m: string) => void warnings.push(m);
  const ctx = testContext({ command: 'rotate-keys', log, kube: async () => kube as never, headscale: async () => hs });
  return { run: testRun(ctx, rotateData(ctx.config.services)), warnings };
}

describe('rotate workflow', () => {
  const tree = WORKFLOWS['rotate-keys'].filter((p) => p.id === 'rotate');

  it('a failure after the Secret was written restores it and names the failed phase', async () => {
    const kube = new RotateKube();
    const hs = new FakeHeadscale();
    const before: SecretInfo = {
      name: 'headscale-auth-keys',
      namespace: 'june-services',
      data: { 'june-orchestrator-authkey': 'old' },
      labels: {},
      annotations: {},
      resourceVersion: '1',
    };
    kube.secrets.set('june-services/headscale-auth-keys', before);
    const { run, warnings } = rotateRun(kube, hs);
    const err = await runPhases(selectPhases(tree, {}, run, 'rotate-keys'), run, new WriteGate('off'), run.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PhaseError);
    expect((err as PhaseError).phaseId).toBe('rotate/restart');
    expect(kube.applies).toBe(1);
    expect(kube.restored).toEqual([before]);
    expect(kube.secrets.get('june-services/headscale-auth-keys')).toBe(before);
    expect(warnings).toEqual([
      'rotation failed (phase rotate/restart: read Deployment june-services/june-orchestrator: connection refused); the Secret was restored and the old keys stay valid. Fix the cause and re-run `june-ts rotate-keys`.',
    ]);
  });

  it('nothing is restored when no key was minted yet', async () => {
    const kube = new RotateKube();
    const hs = new FakeHeadscale();
    hs.failMintFor.add('june-orchestrator');
    const { run, warnings } = rotateRun(kube, hs);
    await expect(runPhases(selectPhases(tree, {}, run, 'rotate-keys'), run, new WriteGate('off'), run.signal)).rejects.toThrow(
      /minting for june-orchestrator/,
    );
    expect(kube.restored).toEqual([]);
    expect(warnings).toEqual([]);
  });
});
