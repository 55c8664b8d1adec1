// helm and kubectl reads retried on a transient API failure with the client-node budget;
// writes (helm upgrade, rollback, uninstall) run once.
import { describe, expect, it } from 'vitest';
import { ExternalError, InterruptedError } from '../../src/errors.js';
import { HelmCli } from '../../src/helm/helm.js';
import { API_RETRY, type RetryClock } from '../../src/kube/retry.js';
import { KubectlCli } from '../../src/kube/kubectl.js';
import { runRetried, transientCause } from '../../src/process/retry-command.js';
import { WriteGate } from '../../src/write-gate.js';
import { FakeRunner } from '../helpers/fake-runner.js';

/** A clock that never waits: time moves by each sleep, so the budget is the real one. */
function fakeClock() {
  let t = 0;
  const sleeps: number[] = [];
  const clock: RetryClock = {
    now: () => t,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw new InterruptedError();
      sleeps.push(ms);
      t += ms;
    },
  };
  return { clock, sleeps };
}

const REFUSED =
  'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: connect: connection refused\n';

describe('transientCause: what the stderr of helm and kubectl says about the API server', () => {
  it.each<[string, string | number | undefined]>([
    [REFUSED, 'ECONNREFUSED'],
    ['Unable to connect to the server: read tcp 127.0.0.1:51234->127.0.0.1:6443: read: connection reset by peer', 'ECONNRESET'],
    ['Error: http2: client connection lost', 'ECONNRESET'],
    ['Unable to connect to the server: net/http: TLS handshake timeout', 'ETIMEDOUT'],
    ['Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later', 429],
    ['Error from server (ServiceUnavailable): the server is currently unable to handle the request', 503],
    ['Error from server (InternalError): an error on the server ("") has prevented the request from succeeding', 500],
    ['Error: release: not found', undefined],
    ['Error from server (Forbidden): secrets is forbidden: User "x" cannot list resource "secrets"', undefined],
    ['Error from server (NotFound): namespaces "x" not found', undefined],
    ['Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress', undefined],
  ])('%s', (stderr, want) => {
    expect(transientCause(stderr)).toBe(want);
  });
});

describe('runRetried', () => {
  it('retries a transient failure and returns the first success, with the API back-off', async () => {
    const runner = new FakeRunner().on('helm list', { exitCode: 1, stderr: REFUSED }, 3).on('helm list', { stdout: '[]' });
    const { clock, sleeps } = fakeClock();
    const retried: string[] = [];
    const res = await runRetried(
      runner,
      'helm',
      ['list', '-A'],
      {},
      { clock, onRetry: (what, n, ms, why) => retried.push(`${what} ${n} ${ms} ${why}`) },
    );
    expect(res.stdout).toBe('[]');
    expect(runner.calls).toHaveLength(4);
    expect(sleeps).toEqual([200, 400, 800]);
    expect(retried[0]).toBe(
      'helm list 1 200 Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: connect: connection refused',
    );
  });

  it('gives up when the budget is spent: the command error says it was a transient failure and how often it was tried', async () => {
    const runner = new FakeRunner().on('helm list', { exitCode: 1, stderr: REFUSED });
    const { clock, sleeps } = fakeClock();
    const err = (await runRetried(runner, 'helm', ['list'], {}, { clock }).catch((e: unknown) => e)) as ExternalError;
    expect(err).toBeInstanceOf(ExternalError);
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(
      /^helm list failed \(exit 1\): Error: Kubernetes cluster unreachable: .*connection refused\n {2}\(a transient API failure: tried \d+ times in \d+\.\ds\)$/,
    );
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(API_RETRY.budgetMs);
    expect(runner.calls.length).toBe(sleeps.length + 1);
    expect(runner.calls.length).toBeGreaterThanOrEqual(8);
  });

  it('with allowFailure the last result is returned after the budget, not thrown', async () => {
    const runner = new FakeRunner().on('kubectl get', {
      exitCode: 1,
      stderr: 'Error from server (ServiceUnavailable): the server is currently unable to handle the request',
    });
    const res = await runRetried(runner, 'kubectl', ['get', 'ns'], { allowFailure: true }, { clock: fakeClock().clock });
    expect(res.exitCode).toBe(1);
    expect(runner.calls.length).toBeGreaterThan(1);
  });

  it('a failure that is not transient is not retried', async () => {
    const runner = new FakeRunner().on('helm get', { exitCode: 1, stderr: 'Error: release: not found' });
    const res = await runRetried(runner, 'helm', ['get', 'values', 'x'], { allowFailure: true }, { clock: fakeClock().clock });
    expect(res.exitCode).toBe(1);
    expect(runner.calls).toHaveLength(1);
  });

  it('Ctrl-C during the wait ends it at once (InterruptedError, no further attempt)', async () => {
    const ac = new AbortController();
    const runner = new FakeRunner().on('helm list', () => {
      ac.abort();
      return { exitCode: 1, stderr: REFUSED };
    });
    await expect(runRetried(runner, 'helm', ['list'], {}, { clock: fakeClock().clock, signal: ac.signal })).rejects.toThrow(
      InterruptedError,
    );
    expect(runner.calls).toHaveLength(1);
  });
});

describe('the seams: which helm and kubectl calls are retried', () => {
  const fast = { clock: fakeClock().clock };

  it('helm version, list and get values are retried; upgrade, rollback and uninstall run once', async () => {
    const runner = new FakeRunner()
      .on('helm version', { exitCode: 1, stderr: REFUSED }, 1)
      .on('helm version', { stdout: 'v4.1.4' })
      .on('helm list', { exitCode: 1, stderr: 'Error: Kubernetes cluster unreachable: http2: client connection lost' }, 2)
      .on('helm list', { stdout: '[]' })
      .on('helm get values', { exitCode: 1, stderr: 'Error from server (TooManyRequests): too many requests' }, 1)
      .on('helm get values', { stdout: '{"a":1}' })
      .on('helm upgrade', { exitCode: 1, stderr: REFUSED })
      .on('helm rollback', { exitCode: 1, stderr: REFUSED })
      .on('helm uninstall', { exitCode: 1, stderr: REFUSED });
    const helm = new HelmCli({ bin: 'helm', runner, gate: new WriteGate('off'), retry: fast });
    expect(await helm.major()).toBe(4);
    expect(await helm.release('r', 'ns')).toBeNull();
    expect(await helm.values('r', 'ns')).toEqual({ a: 1 });
    await expect(helm.upgradeInstall({ release: 'r', chart: '/c', namespace: 'ns', values: {}, timeoutMs: 1000 })).rejects.toThrow(
      ExternalError,
    );
    await expect(helm.rollback('r', 'ns', 2, 1000)).rejects.toThrow(ExternalError);
    await expect(helm.uninstall('r', 'ns', 1000)).rejects.toThrow(ExternalError);
    const verbs = runner.calls.map((c) => c.args.slice(0, c.args[0] === 'get' ? 2 : 1).join(' '));
    expect(verbs).toEqual(['version', 'version', 'list', 'list', 'list', 'get values', 'get values', 'upgrade', 'rollback', 'uninstall']);
  });

  it('kubectl auth can-i and get are retried', async () => {
    const runner = new FakeRunner()
      .on(
        'kubectl auth',
        { exitCode: 1, stderr: 'Unable to connect to the server: dial tcp 127.0.0.1:6443: connect: connection refused' },
        1,
      )
      .on('kubectl auth', { stdout: 'yes\n' })
      .on(
        'kubectl -n x get events',
        { exitCode: 1, stderr: 'Error from server (InternalError): Internal error occurred: etcdserver: leader changed' },
        1,
      )
      .on('kubectl -n x get events', { stdout: 'pod-0: Failed: no tailscale container' });
    const kubectl = new KubectlCli({ bin: 'kubectl', kubeconfig: undefined, context: undefined, runner, retry: fast });
    expect(await kubectl.canI('create', 'leases', 'default')).toBe(true);
    expect(await kubectl.warningEvents('x')).toEqual(['pod-0: Failed: no tailscale container']);
    expect(runner.calls).toHaveLength(4);
  });
});
