// End-to-end environment for june-ts: real components as local processes on 127.0.0.1.
// Plain ESM + JSDoc (types in index.d.ts) so vitest and plain node both import it.
import { mkdirSync, mkdtempSync, symlinkSync, rmSync, existsSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { register } from 'node:module';
import { tmpdir, homedir } from 'node:os';
import { basename, join } from 'node:path';

// Parts of the environment are TypeScript modules. vitest loads them itself; under plain node
// (sandbox, bench) esbuild module hooks compile them on load, so they are imported after this.
if (!process.env.VITEST) register('../../../scripts/ts-hooks.mjs', import.meta.url);
const { readVersions, run, exitHooks, waitFor, setPidDir, freePort } = await import('./util.ts');
const { startHeadscale, writeHeadscaleExecShim } = await import('./headscale.ts');
const { startCluster, headscaleClusterExec } = await import('./kwok.ts');
const { nodeStages, podStages } = await import('./pod-stages.ts');
const { startServiceProxy } = await import('./service-proxy.ts');
const { startKubelet } = await import('./pods.ts');
const { writeExecShim } = await import('./exec-shims.ts');
const { startHost } = await import('./host.ts');

export const versions = readVersions();
export const cacheDir = process.env.JUNE_TS_CACHE || join(homedir(), '.cache', 'june-ts-e2e');

/** Resolves binaries for the requested versions; `missing` lists what is not built. */
export function resolveTools(opts = {}) {
  const hsVersion = normVersion(opts.headscaleVersion ?? process.env.JUNE_TS_E2E_HEADSCALE ?? versions.HEADSCALE_DEFAULT);
  const helm = Number(opts.helm ?? process.env.JUNE_TS_E2E_HELM ?? versions.HELM_DEFAULT);
  if (helm !== 3 && helm !== 4) throw new Error(`JUNE_TS_E2E_HELM must be 3 or 4, got ${helm}`);
  const b = join(cacheDir, 'bin');
  const clients = join(b, helm === 4 ? versions.HELM4_DIR : versions.HELM3_DIR);
  const tools = {
    kubectl: join(clients, 'kubectl'),
    helm: join(clients, 'helm'),
    headscale: join(b, `headscale-${hsVersion}`, 'headscale'),
    tailscale: join(b, `tailscale-${versions.TAILSCALE_VERSION}`, 'tailscale'),
    tailscaled: join(b, `tailscale-${versions.TAILSCALE_VERSION}`, 'tailscaled'),
    containerboot: join(b, `tailscale-${versions.TAILSCALE_VERSION}`, 'containerboot'),
    kwok: join(b, `kwok-${versions.KWOK_VERSION}`, 'kwok'),
    kwokctl: join(b, `kwok-${versions.KWOK_VERSION}`, 'kwokctl'),
    'kube-apiserver': join(b, `kube-${versions.KUBE_VERSION}`, 'kube-apiserver'),
    'kube-controller-manager': join(b, `kube-${versions.KUBE_VERSION}`, 'kube-controller-manager'),
    'kube-scheduler': join(b, `kube-${versions.KUBE_VERSION}`, 'kube-scheduler'),
    etcd: join(b, `etcd-${versions.ETCD_VERSION}`, 'etcd'),
  };
  const missing = Object.entries(tools)
    .filter(([, p]) => !existsSync(p))
    .map(([n, p]) => `${n} (${p})`);
  return { hsVersion, helm, tools, missing };
}

/**
 * kwok-controller watches ClusterExec through an informer that may start before the CRD is
 * established and then backs off; until it has synced, `kubectl exec` answers "no exec found
 * for container". Probe with a throwaway pod in kube-system until exec works.
 */
async function waitExecReady(cluster) {
  const ns = 'kube-system';
  const items = [
    {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'ClusterExec',
      metadata: { name: 'e2e-exec-probe' },
      spec: { selector: { matchNamespaces: [ns], matchNames: ['e2e-exec-probe'] }, execs: [{ containers: ['probe'], local: {} }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'e2e-exec-probe', namespace: ns },
      spec: { containers: [{ name: 'probe', image: 'registry.invalid/probe:1' }], terminationGracePeriodSeconds: 0 },
    },
  ];
  // right after start the `default` ServiceAccount may not exist yet: "pods ... is forbidden:
  // error looking up service account kube-system/default" -> retry until it does
  await waitFor(
    'probe pod created',
    async () => {
      await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 300 },
  );
  await waitFor(
    'kwok exec (ClusterExec informer synced)',
    async () => {
      await cluster.kubectl(['-n', ns, 'exec', 'e2e-exec-probe', '-c', 'probe', '--', 'true'], { timeout: 10_000 });
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  await cluster.kubectl(['delete', '-f', '-', '--wait=false'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
}

/**
 * Removes environments whose owning process died without teardown (e.g. a SIGKILLed
 * vitest worker): kwokctl's components are reparented to init and would leak.
 */
function sweepStale(kwokctl) {
  let entries;
  try {
    entries = readdirSync(tmpdir()).filter((d) => d.startsWith('jte-'));
  } catch {
    return;
  }
  for (const d of entries) {
    const root = join(tmpdir(), d);
    let pid;
    try {
      pid = Number(readFileSync(join(root, 'owner.pid'), 'utf8'));
    } catch {
      continue;
    }
    try {
      process.kill(pid, 0);
      continue;
    } catch {}
    const clusters = join(root, 'kwok', 'clusters');
    for (const c of existsSync(clusters) ? readdirSync(clusters) : []) {
      try {
        execFileSync(kwokctl, ['delete', 'cluster', '--name', c], {
          env: { ...process.env, KWOK_WORKDIR: join(root, 'kwok') },
          stdio: 'ignore',
          timeout: 60_000,
        });
      } catch {}
    }
    // daemons the dead owner started (recorded by pid); kill only if the pid still runs our binary
    const pids = join(root, 'pids');
    for (const p of existsSync(pids) ? readdirSync(pids) : []) {
      try {
        const exe = readFileSync(join(pids, p), 'utf8');
        const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0];
        if (cmdline === exe) process.kill(-Number(p), 'SIGKILL');
      } catch {}
    }
    rmSync(root, { recursive: true, force: true });
    rmSync(join(cacheDir, 'run', d), { recursive: true, force: true });
  }
}

/** When startEnv({ sidecars: false }): no kubelet runs pods, nothing ever joins. */
function noSidecars() {
  const off = async () => {
    throw new Error('startEnv({ sidecars: false }): no kubelet runs pods');
  };
  const offSync = () => {
    throw new Error('startEnv({ sidecars: false }): no kubelet runs pods');
  };
  return {
    list: () => [],
    waitJoined: off,
    waitFailed: off,
    waitPodGone: off,
    socketFor: () => undefined,
    setAppMode: offSync,
    execIn: off,
    containers: () => [],
    endpoint: () => undefined,
    stop: async () => {},
  };
}

/**
 * Headscale as the headscale chart deploys it (namespace `headscale`, Deployment `headscale`):
 * nothing runs until the chart is installed; the CLI is `kubectl exec` into that pod.
 */
async function chartHeadscale({ version, port, kubectl, kubeconfig }) {
  const url = `http://127.0.0.1:${port}`;
  const notHere = async () => {
    throw new Error(
      "env.headscale.start/stop: Headscale runs in the chart's pod here (headscaleServer: 'chart'); scale or delete it with kubectl",
    );
  };
  return {
    version,
    url,
    apiUrl: `${url}/api/v1`,
    apiKey: '',
    configPath: '/etc/headscale/config.yaml',
    socket: '/var/run/headscale/headscale.sock',
    dir: '',
    async cli(args) {
      const argv = [
        '--kubeconfig',
        kubeconfig(),
        '-n',
        'headscale',
        'exec',
        'deployment/headscale',
        '-c',
        'headscale',
        '--',
        'headscale',
        ...args,
      ];
      return (await run(kubectl, argv, { timeout: 30_000 })).stdout;
    },
    // What a test passes to the chart here: the env's version as the image tag, the embedded
    // DERP server instead of downloading Tailscale's DERP map (no internet), and a startup
    // probe that looks every second (the chart's 5 s would add seconds to every rollout).
    chartValues: [
      'image:',
      `  tag: "${version.replace(/^v/, '')}"`,
      'headscale:',
      '  derp:',
      '    server:',
      '      enabled: true',
      '    urls: []',
      '    autoUpdateEnabled: false',
      'startupProbe:',
      '  periodSeconds: 1',
      '',
    ].join('\n'),
    start: notHere,
    stop: notHere,
    destroy: async () => {},
  };
}

function normVersion(v) {
  return v.startsWith('v') ? v : `v${v}`;
}

/** @param {import('./index.mjs').StartEnvOptions} [opts] */
export async function startEnv(opts = {}) {
  const t0 = Date.now();
  const { hsVersion, helm, tools, missing } = resolveTools(opts);
  if (missing.length) {
    throw new Error(`e2e toolchain incomplete, missing:\n  ${missing.join('\n  ')}\nbuild it with: bash scripts/tools/e2e-toolchain.sh`);
  }
  const name = (opts.name ?? `e2e${process.pid}`).toLowerCase().replace(/[^a-z0-9-]/g, '-');
  sweepStale(tools.kwokctl);
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
  for (const t of ['kubectl', 'helm', 'headscale', 'tailscale', 'tailscaled', 'kwokctl']) symlinkSync(tools[t], join(binDir, t));
  const PATH = `${binDir}:${process.env.PATH}`;

  const cleanups = [];
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
    const headscale = inPod
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
      : noSidecars();
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
    /** @type {import('./index.mjs').E2EEnv} */
    const e = {
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
