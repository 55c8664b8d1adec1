// A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler; all built from source) plus kwok simulating nodes and pods, created
// by `kwokctl create cluster --runtime binary` from local binaries only.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync, existsSync, cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exitHooks, freePort, run, sleep, tail, type RunOptions } from './util.js';

export interface ClusterOptions {
  name: string;
  workDir: string;
  logsDir: string;
  kwokDir: string;
  kubeDir: string;
  etcdDir: string;
  kubectl: string;
  /** PATH of every component (kwok-controller looks up `kubectl exec` commands in it) */
  pathEnv: string;
  /** kwok Stages written into the kwokctl config (pod stages given replace kwok's defaults) */
  stages?: object[];
}
export interface ClusterPorts {
  etcd: number;
  etcdPeer: number;
  apiserver: number;
  kcm: number;
  scheduler: number;
  kwok: number;
}
export interface Cluster {
  name: string;
  kubeconfig: string;
  context: string;
  clusterDir: string;
  ports: ClusterPorts;
  /** kubectl against this cluster */
  kubectl(args: string[], opts?: RunOptions): Promise<{ stdout: string; stderr: string }>;
  apiserver: {
    url: string;
    /** pid of the running kube-apiserver, undefined while it is down */
    pid(): number | undefined;
    /** Kills the kube-apiserver (SIGKILL, as `kwokctl stop cluster` does) and waits until it is gone. */
    stop(): Promise<void>;
    /** Starts it again through kwokctl; resolves once `kubectl get --raw /readyz` answers ok. */
    start(): Promise<void>;
  };
  stop(): Promise<void>;
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const { name, workDir, logsDir, kwokDir, kubeDir, etcdDir, kubectl, pathEnv, stages = [] } = o;
  mkdirSync(workDir, { recursive: true });
  const kwokctl = join(kwokDir, 'kwokctl');
  // Every download kwokctl might attempt goes to a dead proxy: it must fail, not fetch.
  const env = {
    ...process.env,
    PATH: pathEnv,
    KWOK_WORKDIR: workDir,
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '',
    http_proxy: 'http://127.0.0.1:9',
    https_proxy: 'http://127.0.0.1:9',
    no_proxy: '',
  };
  const clusterDir = join(workDir, 'clusters', name);
  const kubeconfig = join(clusterDir, 'kubeconfig.yaml');
  const configFile = join(workDir, 'kwokctl-config.yaml');
  const del = () => {
    try {
      execFileSync(kwokctl, ['delete', 'cluster', '--name', name], { env, stdio: 'ignore', timeout: 60_000 });
    } catch {}
  };
  exitHooks.add(del);
  // A control plane that does not come up is retried once on fresh ports: the suite tests
  // june-ts, and one lost start-up (seen once in CI) should not cost a whole Headscale×Helm
  // pair. The first failure's component logs are printed, so it stays visible.
  const lo = '127.0.0.1';
  let p: ClusterPorts;
  for (let attempt = 1; ; attempt++) {
    try {
      p = await createCluster();
      break;
    } catch (e) {
      // keep the component logs for the report, then tear down
      const saved = join(logsDir, `kwok-attempt${attempt}`);
      if (existsSync(join(clusterDir, 'logs'))) cpSync(join(clusterDir, 'logs'), saved, { recursive: true });
      del();
      rmSync(clusterDir, { recursive: true, force: true });
      const logs = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kwok-controller']
        .map((c) => `--- ${c} (last lines of ${join(saved, `${c}.log`)}):\n${tail(join(saved, `${c}.log`), 25)}`)
        .join('\n');
      const err = new Error(`kwok cluster start, attempt ${attempt}: ${e instanceof Error ? e.message : String(e)}\n${logs}`);
      if (attempt >= 2) {
        exitHooks.delete(del);
        throw err;
      }
      console.error(`${err.message}\n--- retrying on fresh ports`);
    }
  }

  async function createCluster(): Promise<ClusterPorts> {
    const p = {
      etcd: await freePort(),
      etcdPeer: await freePort(),
      apiserver: await freePort(),
      kcm: await freePort(),
      scheduler: await freePort(),
      kwok: await freePort(),
    };
    // kwokctl binds every component to 0.0.0.0; pin them to loopback. (Passed through a
    // config file: kwokctl v0.8.0's --extra-args panics with several args for one component,
    // "index out of range" in mutationComponentPatches.)
    const patch = (name: string, args: Record<string, string>) => ({
      name,
      extraArgs: Object.entries(args).map(([key, value]) => ({ key, value, override: true })),
    });
    const kwokctlConfig = {
      apiVersion: 'config.kwok.x-k8s.io/v1alpha1',
      kind: 'KwokctlConfiguration',
      componentsPatches: [
        patch('etcd', {
          'listen-client-urls': `http://${lo}:${p.etcd}`,
          'advertise-client-urls': `http://${lo}:${p.etcd}`,
          'listen-peer-urls': `http://${lo}:${p.etcdPeer}`,
          'initial-advertise-peer-urls': `http://${lo}:${p.etcdPeer}`,
          'initial-cluster': `node0=http://${lo}:${p.etcdPeer}`,
        }),
        patch('kube-apiserver', { 'bind-address': lo, 'advertise-address': lo }),
        patch('kube-controller-manager', { 'bind-address': lo }),
        patch('kube-scheduler', { 'bind-address': lo }),
        patch('kwok-controller', { 'server-address': `${lo}:${p.kwok}`, 'node-ip': lo }),
      ],
    };
    writeFileSync(configFile, [kwokctlConfig, ...stages].map((d) => JSON.stringify(d, null, 2)).join('\n---\n') + '\n');
    const args = [
      'create',
      'cluster',
      '--name',
      name,
      '--runtime',
      'binary',
      '--kube-apiserver-binary',
      join(kubeDir, 'kube-apiserver'),
      '--kube-controller-manager-binary',
      join(kubeDir, 'kube-controller-manager'),
      '--kube-scheduler-binary',
      join(kubeDir, 'kube-scheduler'),
      '--etcd-binary',
      join(etcdDir, 'etcd'),
      '--kwok-controller-binary',
      join(kwokDir, 'kwok'),
      '--etcd-port',
      String(p.etcd),
      '--kube-apiserver-port',
      String(p.apiserver),
      '--kube-controller-manager-port',
      String(p.kcm),
      '--kube-scheduler-port',
      String(p.scheduler),
      '--controller-port',
      String(p.kwok),
      '--enable-crds',
      'ClusterExec',
      '--enable-crds',
      'Exec',
      '--enable-crds',
      'Logs',
      '--kubeconfig',
      join(workDir, 'kwokctl-merged-kubeconfig.yaml'),
      '--wait',
      '90s',
      '-c',
      configFile,
    ];
    await run(kwokctl, args, { env, timeout: 180_000 });
    await run(kwokctl, ['scale', 'node', '-c', configFile, '--name', name, '--replicas', '2'], { env, timeout: 60_000 });
    return p;
  }
  const context = `kwok-${name}`;
  const kc = (a: string[], opts: RunOptions = {}) =>
    run(kubectl, ['--kubeconfig', kubeconfig, ...a], { env: { ...process.env, PATH: pathEnv }, ...opts });
  // kwokctl (binary runtime) forks each component and records its pid in
  // <cluster>/pids/<component>.pid; `kwokctl start cluster` starts only the components whose
  // recorded pid is not running and then waits until `/version` is served. So killing the
  // kube-apiserver and running `start cluster` restarts just the API server (same flags,
  // port and certificates; etcd keeps the data; the other components reconnect).
  const apiserverPidFile = join(clusterDir, 'pids', 'kube-apiserver.pid');
  const apiserverPid = () => {
    try {
      const pid = Number(readFileSync(apiserverPidFile, 'utf8').trim());
      // only a pid that still runs our kube-apiserver (not a reused pid)
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]?.endsWith('kube-apiserver') ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const apiserver: Cluster['apiserver'] = {
    url: `https://${lo}:${p.apiserver}`,
    pid: apiserverPid,
    async stop() {
      const pid = apiserverPid();
      if (pid === undefined) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
      for (let i = 0; i < 200 && existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(safeRead(`/proc/${pid}/status`)); i++) await sleep(50);
      // like kwokctl's own stop: without the pid file the component counts as stopped (an
      // unreaped zombie would still answer kill(pid, 0) and kwokctl would not start it again)
      rmSync(apiserverPidFile, { force: true });
    },
    async start() {
      await run(kwokctl, ['start', 'cluster', '--name', name], { env, timeout: 180_000 });
      for (let i = 0; ; i++) {
        try {
          if ((await kc(['get', '--raw', '/readyz'], { timeout: 10_000 })).stdout.trim() === 'ok') return;
        } catch (e) {
          if (i > 600) throw e;
        }
        await sleep(100);
      }
    },
  };
  return {
    name,
    kubeconfig,
    context,
    clusterDir,
    ports: p,
    kubectl: kc,
    apiserver,
    async stop() {
      if (existsSync(join(clusterDir, 'logs'))) cpSync(join(clusterDir, 'logs'), join(logsDir, 'kwok'), { recursive: true });
      del();
      exitHooks.delete(del);
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** kwok ClusterExec: `kubectl exec` into container `headscale` of pods in namespace
 *  `headscale` runs the real local headscale CLI against the real server. */
export function headscaleClusterExec({ configPath, workDir }: { configPath: string; workDir: string }): object {
  return {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterExec',
    metadata: { name: 'headscale-cli' },
    spec: {
      selector: { matchNamespaces: ['headscale'] },
      execs: [{ containers: ['headscale'], local: { workDir, envs: [{ name: 'HEADSCALE_CONFIG', value: configPath }] } }],
    },
  };
}
