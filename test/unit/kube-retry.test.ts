// withRetry (src/kube/retry.ts) and the API-server error mapping of src/kube/client.ts:
// which errors are retried, how long (bounded), and what a run prints when the API server
// stays away. The error shapes come from the real @kubernetes/client-node against real
// sockets, not from mocks.
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { ClientNodeKube } from '../../src/kube/client.js';
import { holderGone, processScope, runLockHolder } from '../../src/kube/lock-holder.js';
import {
  API_RETRY,
  RetriesExhausted,
  errnoOf,
  isConnectionError,
  isTransient,
  statusOf,
  withRetry,
  type RetryClock,
} from '../../src/kube/retry.js';
import { ApiUnreachableError, ExitCode, ExternalError, InterruptedError } from '../../src/errors.js';
import type { WriteGate } from '../../src/write-gate.js';

/** A clock that sleeps instantly and records the delays. */
function fakeClock(costPerAttemptMs = 0): RetryClock & { delays: number[]; t: number } {
  const c = {
    delays: [] as number[],
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.delays.push(ms);
      c.t += ms + costPerAttemptMs;
    },
  };
  return c;
}

const refused = () =>
  Object.assign(new Error('request to https://127.0.0.1:6443/api/v1/namespaces/x failed, reason: connect ECONNREFUSED 127.0.0.1:6443'), {
    code: 'ECONNREFUSED',
    errno: 'ECONNREFUSED',
    type: 'system',
  });

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function kubeconfigFor(server: string): string {
  const path = join(tmpdir(), `kube-retry-${process.pid}-${Math.random().toString(36).slice(2)}.yaml`);
  const text = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
  writeFileSync(path, text);
  cleanups.push(() => rmSync(path, { force: true }));
  return path;
}

const gate = {
  dryRun: false,
  mode: 'off',
  write: async (_e: unknown, action: () => Promise<unknown>) => action(),
  record: () => {},
} as unknown as WriteGate;
const fast = { firstDelayMs: 20, maxDelayMs: 80, budgetMs: 400 };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0)) await f();
});

describe('withRetry', () => {
  it('backs off 200 ms doubling to 3 s and gives up within the ~20 s budget on a server that stays down', async () => {
    const clock = fakeClock();
    let attempts = 0;
    const err = await withRetry(
      'read',
      async () => {
        attempts++;
        throw refused();
      },
      API_RETRY,
      clock,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetriesExhausted);
    expect(clock.delays).toEqual([200, 400, 800, 1600, 3000, 3000, 3000, 3000, 3000]);
    expect(attempts).toBe(10);
    const r = err as RetriesExhausted;
    expect(r.attempts).toBe(10);
    expect(r.elapsedMs).toBe(18_000);
    expect(r.elapsedMs).toBeLessThanOrEqual(API_RETRY.budgetMs);
    expect(errnoOf(r.cause)).toBe('ECONNREFUSED');
    expect(r.message).toMatch(/^read: connect ECONNREFUSED 127\.0\.0\.1:6443 \(gave up after 10 attempts in 18\.0s\)$/);
  });

  it('counts slow attempts against the budget too', async () => {
    const clock = fakeClock(4000); // every attempt takes 4 s before failing
    let attempts = 0;
    await expect(
      withRetry(
        'read',
        async () => {
          attempts++;
          throw refused();
        },
        API_RETRY,
        clock,
      ),
    ).rejects.toBeInstanceOf(RetriesExhausted);
    expect(clock.t).toBeLessThanOrEqual(API_RETRY.budgetMs + 4000);
    expect(attempts).toBeLessThan(10);
  });

  it('rides out a restart: succeeds on the first attempt after the server is back', async () => {
    const clock = fakeClock();
    const backAt = 6_500; // down 6.5 s, e.g. a kube-apiserver restart
    let attempts = 0;
    const v = await withRetry(
      'read',
      async () => {
        attempts++;
        if (clock.t < backAt) throw refused();
        return 'ok';
      },
      API_RETRY,
      clock,
    );
    expect(v).toBe('ok');
    expect(clock.t).toBe(9_000); // 200+400+800+1600+3000+3000: the first try after 6.5 s
    expect(attempts).toBe(7);
  });

  it('tells onRetry about every retry (what, attempt, next delay, reason) and not about the last failure', async () => {
    const seen: string[] = [];
    await withRetry(
      'read secret',
      async () => {
        throw refused();
      },
      { firstDelayMs: 200, maxDelayMs: 400, budgetMs: 1000 },
      fakeClock(),
      {
        onRetry: (what, attempt, delay, reason) => seen.push(`${what}#${attempt} +${delay}: ${reason}`),
      },
    ).catch(() => undefined);
    expect(seen).toEqual([
      'read secret#1 +200: connect ECONNREFUSED 127.0.0.1:6443',
      'read secret#2 +400: connect ECONNREFUSED 127.0.0.1:6443',
      'read secret#3 +400: connect ECONNREFUSED 127.0.0.1:6443', // at 1000 ms: the last attempt the budget allows
    ]);
  });

  it('Ctrl-C during a retry wait ends the call at once with InterruptedError (real clock, 60 s budget)', async () => {
    const ctl = new AbortController();
    let attempts = 0;
    // without an interruptible wait this sits out the 60 s budget and the test times out
    const err = await withRetry(
      'read',
      async () => {
        attempts++;
        throw refused();
      },
      { firstDelayMs: 20_000, maxDelayMs: 20_000, budgetMs: 60_000 },
      undefined,
      {
        signal: ctl.signal,
        onRetry: () => setTimeout(() => ctl.abort(), 10),
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect(attempts).toBe(1);
  });

  it('a call started after Ctrl-C (clean-up: restore, release the lock) keeps its retries', async () => {
    const ctl = new AbortController();
    ctl.abort();
    const clock = fakeClock();
    let attempts = 0;
    const v = await withRetry(
      'restore secret',
      async () => {
        if (++attempts < 3) throw refused();
        return 'restored';
      },
      API_RETRY,
      clock,
      { signal: ctl.signal },
    );
    expect(v).toBe('restored');
    expect(clock.delays).toEqual([200, 400]);
  });

  it.each([
    [
      'ECONNRESET (socket hang up)',
      Object.assign(new Error('request to https://h/x failed, reason: socket hang up'), { code: 'ECONNRESET', type: 'system' }),
    ],
    ['undici-style cause.code', Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })],
    [
      'HTTP 503 (apiserver starting)',
      new k8s.ApiException(503, 'Service Unavailable', '{"message":"the server is currently unable to handle the request"}', {}),
    ],
    ['HTTP 429 (throttled)', new k8s.ApiException(429, 'Too Many Requests', '{}', {})],
    ['HTTP 500', new k8s.ApiException(500, 'Internal Server Error', '{}', {})],
  ])('retries %s', async (_name, error) => {
    expect(isTransient(error)).toBe(true);
    const clock = fakeClock();
    let attempts = 0;
    const v = await withRetry(
      'x',
      async () => {
        if (++attempts < 3) throw error;
        return attempts;
      },
      API_RETRY,
      clock,
    );
    expect(v).toBe(3);
    expect(clock.delays).toEqual([200, 400]);
  });

  it.each([
    ['404', new k8s.ApiException(404, 'Not Found', '{"message":"secrets \\"x\\" not found"}', {})],
    ['409', new k8s.ApiException(409, 'Conflict', '{}', {})],
    ['403', new k8s.ApiException(403, 'Forbidden', '{}', {})],
    ['422', new k8s.ApiException(422, 'Unprocessable', '{}', {})],
    ['a TLS error', Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })],
    ['a plain bug', new TypeError('x is not a function')],
  ])('does not retry %s and throws it unchanged', async (_name, error) => {
    expect(isTransient(error)).toBe(false);
    const clock = fakeClock();
    let attempts = 0;
    const got = await withRetry(
      'x',
      async () => {
        attempts++;
        throw error;
      },
      API_RETRY,
      clock,
    ).catch((e: unknown) => e);
    expect(got).toBe(error);
    expect(attempts).toBe(1);
    expect(clock.delays).toEqual([]);
  });

  it('statusOf reads only numeric HTTP codes (a FetchError code is a string), also through RetriesExhausted', () => {
    expect(statusOf(refused())).toBeUndefined();
    expect(statusOf(new k8s.ApiException(404, 'x', '', {}))).toBe(404);
    expect(statusOf(new RetriesExhausted('x', 3, 10, new k8s.ApiException(503, 'x', '', {})))).toBe(503);
    expect(isConnectionError(new RetriesExhausted('x', 3, 10, refused()))).toBe(true);
  });
});

describe('the real client-node against real sockets', () => {
  it('a refused connection is a FetchError with code ECONNREFUSED, retried', async () => {
    const port = await closedPort();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfigFor(`http://127.0.0.1:${port}`));
    const core = kc.makeApiClient(k8s.CoreV1Api);
    let attempts = 0;
    const err = await withRetry(
      'ns',
      async () => {
        attempts++;
        return core.readNamespace({ name: 'default' });
      },
      fast,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetriesExhausted);
    expect(errnoOf((err as RetriesExhausted).cause)).toBe('ECONNREFUSED');
    expect(attempts).toBeGreaterThanOrEqual(3);
  });

  it('a server answering 503 twice, then 200: the read succeeds', async () => {
    let hits = 0;
    const srv: Server = createServer((req, res) => {
      hits++;
      if (hits <= 2) {
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end('{"kind":"Status","message":"the server is currently unable to handle the request","code":503}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 's', namespace: 'n', resourceVersion: '7' },
          data: { k: Buffer.from('v').toString('base64') },
        }),
      );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    const kube = new ClientNodeKube({
      kubeconfig: kubeconfigFor(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`),
      gate,
      retry: { api: fast },
    });
    const s = await kube.getSecret('n', 's');
    expect(s?.data).toEqual({ k: 'v' });
    expect(hits).toBe(3);
  });

  it('an API server that stays away: ApiUnreachableError, exit 2, names the server, the call and the retries', async () => {
    const port = await closedPort();
    const kube = new ClientNodeKube({ kubeconfig: kubeconfigFor(`http://127.0.0.1:${port}`), gate, retry: { api: fast } });
    const err = await kube.getSecret('june-services', 'headscale-auth-keys').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiUnreachableError);
    expect((err as ApiUnreachableError).exitCode).toBe(ExitCode.preflight);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^cannot reach the Kubernetes API server at http://127\\.0\\.0\\.1:${port} \\(read Secret june-services/headscale-auth-keys\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; gave up after \\d+ attempts in \\d+\\.\\ds$`,
      ),
    );
    expect((err as ApiUnreachableError).hint).toMatch(/kubectl cluster-info.*re-run/);
  });

  it('a server that keeps answering 503: ExternalError (exit 1) that says it retried', async () => {
    const srv = createServer((_req, res) =>
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"kind":"Status","message":"etcd is unhealthy","code":503}'),
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    const kube = new ClientNodeKube({
      kubeconfig: kubeconfigFor(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`),
      gate,
      retry: { api: fast },
    });
    const err = await kube.getDeployment('n', 'd').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toMatch(/^read Deployment n\/d: etcd is unhealthy \(still failing after \d+ attempts in \d+\.\ds\)$/);
  });

  it('a 404 is not retried and still means "not there"', async () => {
    let hits = 0;
    const srv = createServer((_req, res) => {
      hits++;
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"kind":"Status","message":"secrets \\"s\\" not found","reason":"NotFound","code":404}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    const kube = new ClientNodeKube({
      kubeconfig: kubeconfigFor(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`),
      gate,
      retry: { api: fast },
    });
    expect(await kube.getSecret('n', 's')).toBeNull();
    expect(hits).toBe(1);
  });
});

describe('holderGone (run lock left by a run that died in this pid namespace of this boot)', () => {
  const alive = (pid: number) => pid === 4242;
  const here = 'boot=b1,pidns=4026531836';
  it.each<[string, string, boolean]>([
    ['same scope, process gone', `host-a/999999/install/${here}`, true],
    ['same scope, process alive', `host-a/4242/install/${here}`, false],
    ['same scope under another hostname (renamed host): its pid still means something here', `host-z/999999/install/${here}`, true],
    [
      'same hostname, another pid namespace (another container): its pids mean nothing here',
      'host-a/999999/install/boot=b1,pidns=4026532999',
      false,
    ],
    ['same pid namespace inode, another boot', 'host-a/999999/install/boot=b2,pidns=4026531836', false],
    ['another host', 'host-b/999999/install/boot=b9,pidns=4026531836', false],
    ['the older <host>/<pid>/<command> form: cannot tell, waited out', 'host-a/999999/install', false],
    ['not our holder format', 'someone-else', false],
    ['pid 0', `host-a/0/install/${here}`, false],
    ['extra parts', `host-a/999999/install/${here}/x`, false],
  ])('%s', (_name, other, want) => {
    expect(holderGone(other, `host-a/1234/deploy-sidecars/${here}`, alive)).toBe(want);
  });
  it('uses kill(pid, 0) by default: this process is alive', () => {
    expect(holderGone(runLockHolder('x'), runLockHolder('y'))).toBe(false);
  });
  it("this process's scope is the boot id and the pid namespace (Linux), the hostname without /proc", () => {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = /\d+/.exec(readlinkSync('/proc/self/ns/pid'))![0];
    expect(processScope()).toBe(`boot=${boot},pidns=${ns}`);
    expect(runLockHolder('install')).toBe(`${hostname()}/${process.pid}/install/boot=${boot},pidns=${ns}`);
    expect(
      processScope(() => {
        throw new Error('ENOENT');
      }),
    ).toBe(`host=${hostname()}`);
  });
});
