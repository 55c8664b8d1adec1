// helm's read-only commands ride out an API server restart like client-node calls do: the
// kube-apiserver is stopped while june-ts's first `helm list` is about to run and started
// again a few seconds later; the run completes, and helm list was run more than once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, startScenario, type Scenario } from './harness.js';

describe.skipIf(!canRun)('helm reads retried across an API server restart', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await startScenario('retry');
    const r = await s.june(['install']);
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('helm list meets a stopped API server, is retried, and the run completes (exit 0)', async () => {
    const listsBefore = (s.recordedCalls().match(/^ARGV helm list /gm) ?? []).length;
    let restarted: Promise<void> | undefined;
    const r = await s.juneWithPause(['deploy-sidecars', '--verbose'], '^helm list ', async () => {
      await s.env.apiserver.stop();
      restarted = new Promise<void>((resolve, reject) => setTimeout(() => s.env.apiserver.start().then(resolve, reject), 3000));
    });
    await restarted;
    expect(r.paused).toBe(true);
    expect(r.code, r.stderr).toBe(0);
    const lists = (s.recordedCalls().match(/^ARGV helm list /gm) ?? []).length - listsBefore;
    expect(lists).toBeGreaterThanOrEqual(2);
    expect((await s.june(['status'])).code).toBe(0);
  });
});
