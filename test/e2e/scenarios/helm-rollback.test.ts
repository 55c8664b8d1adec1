// A release left pending-upgrade by a killed `helm upgrade` that was dropping objects (here the
// sidecars' state Roles and Secrets, by tailscale.state.persist=false): `helm rollback` then
// fails with `no Role with the name "…" found` (Helm 3; Helm 4: `original object … not found`),
// because the object still exists but is not in the interrupted revision's manifest.
// june-ts's message covers it, and the fix it names
// (delete that object, run the rollback again) is followed here exactly as printed.
import { spawn } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, startScenario, type Scenario } from './harness.js';

const HOOK = `apiVersion: batch/v1
kind: Job
metadata:
  name: e2e-stuck-hook
  annotations:
    helm.sh/hook: pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: wait
          image: busybox
          resources:
            requests:
              cpu: "100000"
`;

describe.skipIf(!canRun)('rollback of an upgrade killed while it dropped objects', () => {
  let s: Scenario;
  const revisions = async () =>
    JSON.parse(await s.env.helm(['history', 'june-platform', '-n', 'june-services', '-o', 'json'])) as {
      revision: number;
      status: string;
    }[];
  const roles = async () =>
    (await s.env.kubectl(['-n', 'june-services', 'get', 'roles', '-o', 'jsonpath={.items[*].metadata.name}']))
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .sort();

  beforeAll(async () => {
    s = await startScenario('helm-rollback');
    const r = await s.june(['install']);
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('june-ts names the stuck release and the fix for the failing rollback; following it as printed, a re-run completes', async () => {
    const rolesBefore = await roles();
    expect(rolesBefore).toEqual(['june-idp-tailscale', 'june-orchestrator-tailscale']);
    const last = (await revisions()).at(-1)!;

    // the upgrade records revision last+1 (without the Roles) as pending-upgrade, then waits for
    // a pre-upgrade hook that never runs, before it has applied or deleted anything; killed there
    const chart = join(s.dir, 'june-platform-with-hook');
    cpSync(join(process.cwd(), 'helm', 'june-platform'), chart, { recursive: true });
    writeFileSync(join(chart, 'templates', 'e2e-stuck-hook.yaml'), HOOK);
    const helm = spawn(
      'helm',
      [
        'upgrade',
        'june-platform',
        chart,
        '-n',
        'june-services',
        '--reuse-values',
        '--set',
        'tailscale.state.persist=false',
        '--wait',
        '--timeout',
        '300s',
      ],
      { env: { ...process.env, ...s.env.env }, stdio: 'ignore' },
    );
    const exited = new Promise((r) => helm.once('exit', r));
    try {
      for (let i = 0; ; i++) {
        const h = (await revisions()).at(-1)!;
        if (h.revision > last.revision && h.status === 'pending-upgrade') break;
        if (i > 600) throw new Error(`helm never recorded a pending revision: ${JSON.stringify(h)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      helm.kill('SIGKILL');
      await exited;
    }
    expect(await roles()).toEqual(rolesBefore); // dropped from the manifest, still on the cluster

    const refused = await s.june(['deploy-sidecars']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('release june-platform in june-services is pending-upgrade');
    const fix = `If the rollback fails with 'no <Kind> with the name "<name>" found' (Helm 3) or 'original object <Kind> with the name "<name>" not found' (Helm 4), the interrupted upgrade had dropped that object from the release without deleting it: delete it (\`kubectl -n june-services delete <kind> <name>\`) and run \`helm rollback june-platform ${last.revision} -n june-services\` (with the revision), repeating for each object it names; Helm re-creates them`;
    expect(refused.stderr.replace(/\n\s+/g, ' ')).toContain(fix);

    // the operator runs the rollback june-ts names first, then on each such failure the printed fix, as printed
    const rollback = async (argv: string[]) =>
      s.env.helm(argv).then(
        () => undefined,
        (e: unknown) => String(e),
      );
    const failures: string[] = [];
    let out = await rollback(['rollback', 'june-platform', '-n', 'june-services']);
    for (let attempt = 0; out !== undefined; attempt++) {
      const m = /(?:no|original object) (\w+) with the name "([^"]+)" (?:not )?found/.exec(out);
      if (!m || attempt > 8) throw new Error(`helm rollback failed otherwise: ${out}`);
      failures.push(`${m[1]} ${m[2]}`);
      await s.env.kubectl(['-n', 'june-services', 'delete', m[1]!.toLowerCase(), m[2]!]);
      out = await rollback(['rollback', 'june-platform', String(last.revision), '-n', 'june-services']);
    }
    // both Helm 3 and Helm 4 refuse the plain rollback here (each in its own words)
    expect(failures.length, 'the rollback failed on a dropped object').toBeGreaterThan(0);
    // exactly the objects persist=false drops: each sidecar's state Role and state Secret
    for (const f of failures)
      expect(f).toMatch(/^(Role june-(idp|orchestrator)-tailscale|Secret june-(idp|orchestrator)-tailscale-state)$/);
    expect((await revisions()).at(-1)!.status).toBe('deployed');
    expect(await roles()).toEqual(rolesBefore);
    await s.env.kubectl(['-n', 'june-services', 'delete', 'job', 'e2e-stuck-hook', '--ignore-not-found', '--wait=false']);

    const again = await s.june(['deploy-sidecars']);
    expect(again.code, again.stderr).toBe(0);
    expect((await s.june(['status'])).code).toBe(0);
  });
});
