// End-to-end environment for june-ts: real components as local processes on 127.0.0.1.
// vitest imports it directly; plain node (sandbox, bench, the chart scenarios) imports it
// through load.mjs, which first registers the module hooks that compile TypeScript on load.
import { mkdirSync, mkdtempSync, symlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chartHeadscale, type EnvHeadscale } from './chart-headscale.js';
import type { E2EEnv, StartEnvOptions } from './env-types.js';
import { writeExecShim } from './exec-shims.js';
import { waitExecReady } from './exec-ready.js';
import { startHeadscale, writeHeadscaleExecShim } from './headscale.js';
import { startHost } from './host.js';
import { startCluster, headscaleClusterExec } from './kwok.js';
import { nodeStages, podStages } from './pod-stages.js';
import { noKubelet, startKubelet } from './pods.js';
import { startServiceProxy } from './service-proxy.js';
import { sweepStale } from './stale-envs.js';
import { cacheDir, resolveTools, versions } from './tools.js';
import { run, exitHooks, setPidDir, freePort } from './util.js';

export type * from './env-types.js';
export { cacheDir, resolveTools, versions } from './tools.js';

export async function startEnv(opts: StartEnvOptions = {}): Promise<E2EEnv> {
  const t0 = Date.now();
  const { hsVersion, helm, tools, missing } = resolveTools(opts);
  if (missing.length) {
    throw new Error(`e2e toolchain incomplete, missing:\n  ${missing.join('\n  ')}\nbuild it with: bash scripts/tools/e2e-toolchain.sh`);
  }
  const name = (opts.name ?? `e2e${process.pid}`).toLowerCase().replace(/[^a-z0-9-]/g, '-');
  sweepStale(tools.kwokctl, cacheDir);
  // short root: unix socket paths must stay < 108 bytes
  const root = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'jte-'));
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'owner.pid'), String(process.pid));
  setPidDir(join(root, 'pids'));
  const logsDir = opts.logsDir ?? join(cacheDir, 'logs', 'env', name);
  rmSync(logsDir, { recursive: true, force: true });
  mkdirSync(logsDir, { recursive: true });
  // Pods get a private /tmp (containerboot keeps its socket there), which hides the machine's
  // /tmp inside them: their own files (service account, forwarder sockets) live elsewhere.
  const podsDir = join(cacheDir, 'run', basename(root));
  mkdirSync(podsDir, { recursive: true });
  const binDir = join(root, 'bin');
  mkdirSync(binDir, { recursive: true });
  for (const t of ['kubectl', 'helm', 'headscale', 'tailscale', 'tailscaled', 'kwokctl'] as const) symlinkSync(tools[t], join(binDir, t));
  const PATH = `${binDir}:${process.env.PATH}`;

  const cleanups: Array<() => Promise<void>> = [];
  let kubeconfigOf = () => '';
  const cleanupAll = async () => {
    for (const f of cleanups.splice(0).reverse()) {
      try {
        await f();
      } catch {}
    }
  };
  try {
    // 'chart': Headscale is what the headscale chart deploys, run by the env's kubelet; its
    // Service (and Ingress) is 127.0.0.1:<port> through the env's Service proxy
    const inPod = opts.headscaleServer === 'chart';
    const sidecarsOn = opts.sidecars !== false;
    if (inPod && !sidecarsOn) throw new Error("startEnv({ headscaleServer: 'chart' }) needs the kubelet (sidecars: true)");
    const headscale: EnvHeadscale = inPod
      ? await chartHeadscale({ version: hsVersion, port: await freePort(), kubectl: tools.kubectl, kubeconfig: () => kubeconfigOf() })
      : await startHeadscale({ version: hsVersion, bin: tools.headscale, dir: join(root, 'hs'), logsDir });
    cleanups.push(() => headscale.destroy());
    if (!inPod) writeFileSync(join(root, 'hs', 'apikey'), headscale.apiKey, { mode: 0o600 });

    const tsBinDir = join(cacheDir, 'bin', `tailscale-${versions.TAILSCALE_VERSION}`);
    // kwok-controller runs `kubectl exec` commands from its PATH: `tailscale` there enters the
    // pod, `headscale` the headscale pod the kubelet runs (else the env's own process)
    const execShims = writeExecShim(join(root, 'exec'), tools.tailscale, tools.headscale);
    writeHeadscaleExecShim(execShims);
    const cluster = await startCluster({
      name,
      workDir: join(root, 'kwok'),
      logsDir,
      kubectl: tools.kubectl,
      pathEnv: `${execShims}:${PATH}`,
      stages: sidecarsOn ? [...nodeStages(), ...podStages({ runImages: inPod })] : [],
      kwokDir: join(cacheDir, 'bin', `kwok-${versions.KWOK_VERSION}`),
      kubeDir: join(cacheDir, 'bin', `kube-${versions.KUBE_VERSION}`),
      etcdDir: join(cacheDir, 'bin', `etcd-${versions.ETCD_VERSION}`),
    });
    cleanups.push(() => cluster.stop());
    kubeconfigOf = () => cluster.kubeconfig;
    if (!inPod) {
      await cluster.kubectl(['apply', '-f', '-'], {
        input: JSON.stringify(headscaleClusterExec({ configPath: headscale.configPath, workDir: headscale.dir })),
      });
    }
    await waitExecReady(cluster);

    // the phase-11.5 host: a kernel-mode tailscaled with TUN and MagicDNS in a sandbox of its own
    const host = await startHost({
      headscaleUrl: headscale.url,
      name: 'host',
      logFile: join(logsDir, 'host-tailscaled.log'),
      parentDir: root,
    });
    cleanups.push(() => host.stop());

    // sidecars: false (benchmarks) starts no kubelet and keeps kwok's own stages: pods roll out, nothing joins
    const sidecars = sidecarsOn
      ? startKubelet({
          kubeconfig: cluster.kubeconfig,
          dir: podsDir,
          logsDir,
          tsBinDir,
          apiserverPort: cluster.ports.apiserver,
          headscalePort: Number(new URL(headscale.url).port),
          runImages: inPod,
        })
      : noKubelet();
    cleanups.push(() => sidecars.stop());
    if (inPod) {
      const proxy = await startServiceProxy({
        port: Number(new URL(headscale.url).port),
        namespace: 'headscale',
        service: 'headscale',
        portName: 'http',
        kubeconfig: cluster.kubeconfig,
        endpoint: sidecars.endpoint,
        log: (m) => writeFileSync(join(logsDir, 'service-proxy.log'), `${new Date().toISOString()} ${m}\n`, { flag: 'a' }),
      });
      cleanups.push(() => proxy.stop());
    }

    const env = {
      PATH,
      KUBECONFIG: cluster.kubeconfig,
      HELM_CACHE_HOME: join(root, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(root, 'helm', 'config'),
      HELM_DATA_HOME: join(root, 'helm', 'data'),
      TS_NO_LOGS_NO_SUPPORT: 'true',
      TS_DEBUG_USE_DERP_HTTP: '1',
    };
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await cleanupAll();
      syncRm();
      exitHooks.delete(syncRm);
    };
    const syncRm = () => {
      rmSync(root, { recursive: true, force: true });
      rmSync(podsDir, { recursive: true, force: true });
    };
    exitHooks.add(syncRm);
    const e: E2EEnv = {
      name,
      root,
      kubeconfig: cluster.kubeconfig,
      context: cluster.context,
      binDir,
      env,
      logsDir,
      helmMajor: helm,
      tools,
      versions: { ...versions, headscale: hsVersion },
      headscale: {
        server: inPod ? 'chart' : 'process',
        chartValues: headscale.chartValues ?? '',
        version: hsVersion,
        url: headscale.url,
        apiUrl: headscale.apiUrl,
        apiKey: headscale.apiKey,
        configPath: headscale.configPath,
        socket: headscale.socket,
        cli: headscale.cli,
        start: headscale.start,
        stop: headscale.stop,
      },
      apiserver: {
        url: cluster.apiserver.url,
        pid: cluster.apiserver.pid,
        stop: cluster.apiserver.stop,
        start: cluster.apiserver.start,
        restart: async () => {
          await cluster.apiserver.stop();
          await cluster.apiserver.start();
        },
      },
      sidecars,
      host: {
        socket: host.socket,
        pid: host.sandbox.pid,
        cli: host.cli,
        status: host.status,
        curl: host.curl,
        loadLoop: host.loadLoop,
        resolvConf: host.resolvConf,
      },
      kubectl: async (args, o = {}) => (await run(tools.kubectl, args, { env: { ...process.env, ...env }, ...o })).stdout,
      tailscale: async (socket, args, o = {}) =>
        (await run(tools.tailscale, [`--socket=${socket}`, ...args], { env: { ...process.env, ...env }, ...o })).stdout,
      helm: async (args, o = {}) => (await run(tools.helm, args, { env: { ...process.env, ...env }, ...o })).stdout,
      startMs: 0,
      stop,
    };
    e.startMs = Date.now() - t0;
    return e;
  } catch (err) {
    await cleanupAll();
    rmSync(root, { recursive: true, force: true });
    rmSync(podsDir, { recursive: true, force: true });
    throw err;
  }
}
