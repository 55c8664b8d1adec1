// applyRelease: helm upgrade without --wait, june-ts's own rollout wait over the release's
// Deployments, and the undo (rollback to the deployed revision, or uninstall a first install)
// when either fails. Fake seams record the calls in order.
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/context.js';
import { ApiUnreachableError, ExternalError, PreflightError } from '../../src/errors.js';
import { HelmCli } from '../../src/helm/helm.js';
import type { HelmClient, ReleaseInfo } from '../../src/helm/types.js';
import { FakeRunner } from '../helpers/fake-runner.js';
import type { KubeClient } from '../../src/kube/types.js';
import { WriteGate, type PlanEntry } from '../../src/write-gate.js';
import { applyRelease } from '../../src/phases/release.js';
import { preflightPhase } from '../../src/phases/preflight.js';
import { testContext, testRun } from '../helpers/context.js';

interface Faults {
  upgrade?: boolean;
  rollout?: boolean;
  rollback?: boolean;
  /** the failed upgrade recorded no revision (e.g. a render error) */
  nothingRecorded?: boolean;
  /** the rollback fails with this message instead of 'boom' */
  rollbackMessage?: string;
}

function seams(faults: Faults = {}) {
  const calls: string[] = [];
  let rollouts = 0;
  let latest: ReleaseInfo | null = null;
  const helm: Partial<HelmClient> = {
    upgradeInstall: async (req) => {
      calls.push(`upgrade ${req.release}`);
      if (!faults.nothingRecorded)
        latest = {
          name: req.release,
          namespace: req.namespace,
          revision: (latest?.revision ?? 0) + 1,
          status: faults.upgrade ? 'failed' : 'deployed',
          chart: 'june-platform-0.1.0',
        };
      if (faults.upgrade) throw new ExternalError('helm upgrade --install june-platform failed: admission webhook said no');
    },
    release: async () => latest,
    rollback: async (release, _ns, revision) => {
      calls.push(`rollback ${release} ${revision}`);
      if (faults.rollback) throw new ExternalError(faults.rollbackMessage ?? 'helm rollback failed: boom');
    },
    uninstall: async (release) => {
      calls.push(`uninstall ${release}`);
      return true;
    },
  };
  const kube: Partial<KubeClient> = {
    listDeployments: async (ns, selector) => {
      calls.push(`list ${ns} ${selector}`);
      return ['june-orchestrator', 'june-idp'];
    },
    waitForRollout: async (_ns, names) => {
      calls.push(`wait ${names.join(',')}`);
      if (faults.rollout && rollouts++ === 0) throw new ExternalError('Deployments not rolled out after 300s: june-idp');
    },
  };
  return { calls, helm, kube, setLatest: (r: ReleaseInfo | null) => (latest = r) };
}

function context(s: ReturnType<typeof seams>, gate = new WriteGate('off')): Context {
  return testContext({ gate, kube: async () => s.kube as KubeClient, helm: async () => s.helm as HelmClient });
}

const spec = { label: 'June Platform', release: 'june-platform', namespace: 'june-services', chart: './helm/june-platform' };
const deployed: ReleaseInfo = {
  name: 'june-platform',
  namespace: 'june-services',
  revision: 3,
  status: 'deployed',
  chart: 'june-platform-0.1.0',
};

describe('applyRelease', () => {
  it('upgrades, then waits for every Deployment of the release', async () => {
    const s = seams();
    s.setLatest(deployed);
    await applyRelease(context(s), spec, {}, deployed);
    expect(s.calls).toEqual([
      'upgrade june-platform',
      'list june-services app.kubernetes.io/instance=june-platform',
      'wait june-orchestrator,june-idp',
    ]);
  });

  it('a rollout that does not finish rolls back to the deployed revision and says so', async () => {
    const s = seams({ rollout: true });
    s.setLatest(deployed);
    const err = await applyRelease(context(s), spec, {}, deployed).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toBe(
      'Deployments not rolled out after 300s: june-idp\n  release june-platform rolled back to revision 3',
    );
    expect(s.calls.slice(3)).toEqual([
      'rollback june-platform 3',
      'list june-services app.kubernetes.io/instance=june-platform',
      'wait june-orchestrator,june-idp',
    ]);
  });

  it('a rejected upgrade rolls back without waiting for the failed revision', async () => {
    const s = seams({ upgrade: true });
    s.setLatest(deployed);
    const err = (await applyRelease(context(s), spec, {}, deployed).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/admission webhook said no\n {2}release june-platform rolled back to revision 3$/);
    expect(s.calls[0]).toBe('upgrade june-platform');
    expect(s.calls[1]).toBe('rollback june-platform 3');
  });

  it('a failed first install is uninstalled', async () => {
    const s = seams({ upgrade: true });
    const err = (await applyRelease(context(s), spec, {}, null).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/the failed first install of june-platform was uninstalled$/);
    expect(s.calls).toEqual(['upgrade june-platform', 'uninstall june-platform']);
  });

  it('nothing to roll back to when the previous revision had failed; a failing rollback is reported, not hidden', async () => {
    const failed = seams({ upgrade: true });
    failed.setLatest({ ...deployed, status: 'failed' });
    const e1 = (await applyRelease(context(failed), spec, {}, { ...deployed, status: 'failed' }).catch((e: unknown) => e)) as Error;
    expect(e1.message).toMatch(/left as is \(its previous revision 3 was failed, nothing to roll back to\)$/);
    expect(failed.calls).toEqual(['upgrade june-platform']);

    const broken = seams({ upgrade: true, rollback: true });
    broken.setLatest(deployed);
    const e2 = (await applyRelease(context(broken), spec, {}, deployed).catch((e: unknown) => e)) as Error;
    expect(e2).toBeInstanceOf(ExternalError);
    expect(e2.message).toMatch(/admission webhook said no\n {2}rolling back release june-platform failed too: helm rollback failed: boom$/);
  });

  it("Helm 3's rollback failing on an object the failed upgrade dropped but did not delete: the message names the object and the fix", async () => {
    const s = seams({
      upgrade: true,
      rollback: true,
      rollbackMessage:
        'helm rollback june-platform 3 --namespace june-services failed (exit 1): Error: no Role with the name "june-idp-tailscale" found',
    });
    s.setLatest(deployed);
    const err = (await applyRelease(context(s), spec, {}, deployed).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('rolling back release june-platform failed too: helm rollback june-platform 3');
    expect(err.message).toMatch(
      /\n {2}Role june-idp-tailscale was dropped from the release by the failed upgrade without being deleted: delete it \(`kubectl -n june-services delete role june-idp-tailscale`\) and run `helm rollback june-platform 3 -n june-services` \(with the revision\), repeating for each object it names; Helm re-creates them$/,
    );
  });

  it("Helm 4's wording of the same rollback failure gets the same fix", async () => {
    const s = seams({
      upgrade: true,
      rollback: true,
      rollbackMessage: 'helm rollback failed (1): Error: original object Secret with the name "june-idp-tailscale-state" not found',
    });
    s.setLatest(deployed);
    const err = (await applyRelease(context(s), spec, {}, deployed).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /\n {2}Secret june-idp-tailscale-state was dropped from the release by the failed upgrade without being deleted: delete it \(`kubectl -n june-services delete secret june-idp-tailscale-state`\) and run `helm rollback june-platform 3 -n june-services`/,
    );
  });

  it('an upgrade that failed before Helm recorded a revision (render error) changes nothing: no rollback, no uninstall', async () => {
    const s = seams({ upgrade: true, nothingRecorded: true });
    s.setLatest(deployed);
    const err = (await applyRelease(context(s), spec, {}, deployed).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('helm upgrade --install june-platform failed: admission webhook said no');
    expect(s.calls).toEqual(['upgrade june-platform']);
    const fresh = seams({ upgrade: true, nothingRecorded: true });
    await expect(applyRelease(context(fresh), spec, {}, null)).rejects.toThrow(
      /^helm upgrade --install june-platform failed: admission webhook said no$/,
    );
    expect(fresh.calls).toEqual(['upgrade june-platform']);
  });

  it('losing the API server while waiting is not a reason to roll back: the error passes through untouched', async () => {
    const s = seams();
    s.setLatest(deployed);
    s.kube.waitForRollout = async () => {
      throw new ApiUnreachableError(
        'cannot reach the Kubernetes API server at https://127.0.0.1:6443 (read Deployment june-services/june-idp)',
      );
    };
    const err = (await applyRelease(context(s), spec, {}, deployed).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ApiUnreachableError);
    expect(err.message).toBe('cannot reach the Kubernetes API server at https://127.0.0.1:6443 (read Deployment june-services/june-idp)');
    expect(s.calls.filter((c) => /rollback|uninstall/.test(c))).toEqual([]);
  });

  it('dry run: records the wait instead of listing or waiting', async () => {
    const s = seams();
    const gate = new WriteGate('static');
    const entries: PlanEntry[] = [];
    await gate.collect(entries, () => applyRelease(context(s, gate), spec, {}, null));
    expect(s.calls).toEqual(['upgrade june-platform']);
    expect(entries.at(-1)).toEqual({
      kind: 'note',
      text: expect.stringMatching(/^wait until the Deployments of release june-platform are rolled out/),
    });
  });

  it.each([
    [
      'pending-upgrade',
      /^if no helm command is working on it, run `helm rollback june-platform -n june-services` \(back to the revision before 4; see `helm history june-platform -n june-services`\), then re-run june-ts\. If the rollback fails with 'no <Kind> with the name "<name>" found' \(Helm 3\) or 'original object <Kind> with the name "<name>" not found' \(Helm 4\), the interrupted upgrade had dropped that object from the release without deleting it: delete it \(`kubectl -n june-services delete <kind> <name>`\) and run `helm rollback june-platform 3 -n june-services` \(with the revision\), repeating for each object it names; Helm re-creates them$/,
    ],
    [
      'pending-rollback',
      /^if no helm command is working on it, run `helm rollback june-platform -n june-services` \(back to the revision before 4;/,
    ],
    [
      'pending-install',
      /^if no helm command is working on it, run `helm uninstall june-platform -n june-services` \(its first install never finished\), then re-run june-ts$/,
    ],
  ])('a release stuck in %s is refused before any helm call, naming the command that frees it (exit 2)', async (status, hint) => {
    const s = seams();
    const stuck: ReleaseInfo = { ...deployed, revision: 4, status };
    s.setLatest(stuck);
    const err = (await applyRelease(context(s), spec, {}, stuck).catch((e: unknown) => e)) as PreflightError;
    expect(err).toBeInstanceOf(PreflightError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      `release june-platform in june-services is ${status} (revision 4): a Helm operation on it was interrupted, or is still running`,
    );
    expect(err.hint).toMatch(hint);
    expect(s.calls).toEqual([]);
  });
});

describe('preflight: releases stuck mid-operation', () => {
  const stuckHelm = (status: string) => {
    const asked: string[] = [];
    const helm: Partial<HelmClient> = {
      chartRef: async () => 'june-platform-0.1.0',
      major: async () => 4,
      release: async (release, namespace) => {
        asked.push(`${namespace}/${release}`);
        return { ...deployed, status };
      },
    };
    const kube: Partial<KubeClient> = { serverVersion: async () => 'v1.34.4' };
    return { asked, seams: { calls: [], helm, kube, setLatest: () => null } as unknown as ReturnType<typeof seams> };
  };
  const phase = preflightPhase({ charts: ['platform'], releases: [{ chart: 'platform', phase: '11.2-headscale-sidecars/helm' }] });
  const apiCtx = (s: ReturnType<typeof seams>, willRun: (id: string) => boolean) => {
    const ctx = context(s);
    // the API transport needs no kubectl; the exec one would run `kubectl version`
    (ctx.config.headscale as { transport: string }).transport = 'api';
    return testRun(ctx, undefined, willRun);
  };

  it('refuses a run whose helm step would meet a pending-upgrade release, before anything changes', async () => {
    const { asked, seams: s } = stuckHelm('pending-upgrade');
    await expect(phase.run!(apiCtx(s, () => true))).rejects.toThrow(
      /^release june-platform in june-services is pending-upgrade \(revision 3\)/,
    );
    expect(asked).toEqual(['june-services/june-platform']);
  });

  it('does not look at the release when the phase that upgrades it will not run (--skip)', async () => {
    const { asked, seams: s } = stuckHelm('pending-upgrade');
    await phase.run!(apiCtx(s, (id) => id !== '11.2-headscale-sidecars/helm'));
    expect(asked).toEqual([]);
  });

  it('a deployed release passes', async () => {
    const { asked, seams: s } = stuckHelm('deployed');
    await phase.run!(apiCtx(s, () => true));
    expect(asked).toEqual(['june-services/june-platform']);
  });
});

describe('HelmCli.release: one helm list per release and run, forgotten on writes', () => {
  const listJson = (revision: number, status: string) =>
    JSON.stringify([
      {
        name: 'june-platform',
        namespace: 'june-services',
        revision: String(revision),
        status,
        chart: 'june-platform-0.1.0',
        app_version: '1.0',
        updated: '',
      },
    ]);

  it('preflight and the helm step share one read; an upgrade, a rollback or an uninstall makes the next read fresh', async () => {
    let revision = 3;
    const runner = new FakeRunner()
      .on('helm list', () => ({ stdout: listJson(revision, 'deployed') }))
      .on('helm upgrade', () => ((revision += 1), {}))
      .on('helm rollback', () => ((revision += 1), {}))
      .on('helm uninstall', {});
    const helm = new HelmCli({ bin: 'helm', runner, gate: new WriteGate('off') });
    const [a, b] = await Promise.all([helm.release('june-platform', 'june-services'), helm.release('june-platform', 'june-services')]);
    expect(a?.revision).toBe(3);
    expect(b).toBe(a);
    expect((await helm.release('june-platform', 'june-services'))?.revision).toBe(3);
    const lists = () => runner.commandLines().filter((l) => l.startsWith('helm list')).length;
    expect(lists()).toBe(1);
    await helm.upgradeInstall({
      release: 'june-platform',
      chart: './helm/june-platform',
      namespace: 'june-services',
      values: {},
      timeoutMs: 60_000,
    });
    expect((await helm.release('june-platform', 'june-services'))?.revision).toBe(4);
    await helm.rollback('june-platform', 'june-services', 3, 60_000);
    expect((await helm.release('june-platform', 'june-services'))?.revision).toBe(5);
    await helm.uninstall('june-platform', 'june-services', 60_000);
    await helm.release('june-platform', 'june-services');
    expect(lists()).toBe(4);
  });

  it('a failed read is not kept', async () => {
    const runner = new FakeRunner()
      .on('helm list', { exitCode: 1, stderr: 'Kubernetes cluster unreachable' }, 1)
      .on('helm list', { stdout: listJson(3, 'deployed') });
    const helm = new HelmCli({ bin: 'helm', runner, gate: new WriteGate('off') });
    await expect(helm.release('june-platform', 'june-services')).rejects.toThrow(/cluster unreachable/);
    expect((await helm.release('june-platform', 'june-services'))?.revision).toBe(3);
  });
});
