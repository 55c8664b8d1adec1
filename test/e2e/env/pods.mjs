// The environment's kubelet for pods that carry a container named `tailscale` (kwok hands
// them over Running and unready, see pod-stages.ts). Per pod, as a node would:
//  * a sandbox (test/e2e/env/netns.ts): its own network namespace (loopback only) and mount
//    namespace, shared by its containers; the API server (also as kubernetes.default.svc:443)
//    and Headscale are reachable at 127.0.0.1 inside through unix-socket forwarders;
//  * the ServiceAccount token (TokenRequest bound to the pod), ca.crt and namespace at
//    /var/run/secrets/kubernetes.io/serviceaccount, a private /etc/hosts, /tmp and /run;
//  * container `tailscale`: the real containerboot with exactly the env the kubelet computes
//    from the pod spec (container-env.mjs); other containers: an HTTP stand-in on each
//    declared port (pod-agent.ts);
//  * readiness/liveness probes (httpGet, tcpSocket, exec) run inside the pod; Ready,
//    container states and restartCount written to the pod status; a failed container is
//    restarted with back-off; a deleted pod's processes are killed;
//  * `kubectl exec -c tailscale` (kwok Exec) runs in the pod's namespaces, `kubectl logs`
//    (kwok Logs) shows each container's output.
// With runImages it also runs pods whose containers use an image images.mjs maps to a binary
// (the headscale chart's pod, a shell pod): the real program inside the pod with its
// volumes (ConfigMap, emptyDir, PersistentVolumeClaim via volumes.mjs) mounted where the pod
// spec says, its TCP ports exposed to the Service proxy, its startupProbe run, and
// `kubectl exec -c headscale -- headscale ...` run inside it.
import { appendFileSync, chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { transformSync } from 'esbuild';
import { containerEnv, kubernetesServiceEnv } from './container-env.ts';
import { runnableImage } from './images.ts';
import { startProvisioner } from './volumes.ts';
import { createSandbox } from './netns.ts';
import { sleep, tail, waitFor } from './util.ts';

const AGENT_SOURCE = fileURLToPath(new URL('./pod-agent.ts', import.meta.url));
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const BACKOFF_START_MS = 2000,
  BACKOFF_MAX_MS = 30_000;
const errText = (e) => String(e?.body?.message ?? e?.message ?? e).split('\n')[0];
const START_RETRY_MS = 2000;

/** tailscaled's LocalAPI status over its unix socket (what `tailscale status --json` reads). */
/** Init containers that run for the pod's life (native sidecars, Kubernetes 1.29+). */
function nativeSidecars(pod) {
  return (pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
}

/** The containers the env's kubelet runs: native sidecars first, then the pod's containers. */
function podContainers(pod) {
  return [...nativeSidecars(pod), ...(pod.spec.containers ?? [])];
}

export function localStatus(socketPath, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: '/localapi/v0/status', headers: { Host: 'local-tailscaled.sock' }, timeout: timeoutMs },
      (res) => {
        let s = '';
        res.on('data', (d) => (s += d));
        res.on('end', () => {
          try {
            if (res.statusCode !== 200) throw new Error(`LocalAPI status: HTTP ${res.statusCode}: ${s}`);
            resolve(JSON.parse(s));
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('LocalAPI status timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** One CRI log line per output line (the format kwok's `kubectl logs` reads). */
function criLogger(file) {
  const write = (stream) => {
    let partial = '';
    return (chunk) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (lines.length) appendFileSync(file, lines.map((l) => `${new Date().toISOString()} ${stream} F ${l}\n`).join(''));
    };
  };
  return { stdout: write('stdout'), stderr: write('stderr') };
}

/** Writes the `tailscale` and `headscale` exec shims kwok-controller finds first on its PATH. */
export function writeExecShim(dir, tailscaleBin, headscaleBin) {
  mkdirSync(dir, { recursive: true });
  // a headscale pod the kubelet runs: its own binary (the image's version) in its namespaces,
  // where /etc/headscale/config.yaml is the chart's ConfigMap; else the env's own process
  writeFileSync(
    join(dir, 'headscale'),
    [
      '#!/bin/sh',
      'if [ -n "$JUNE_E2E_POD_DIR" ]; then',
      '  bin=$(cat "$JUNE_E2E_POD_DIR/headscale.bin") || exit 126',
      '  exec nsenter --target "$(cat "$JUNE_E2E_POD_DIR/sandbox.pid")" --net --mount -- "$bin" "$@"',
      'fi',
      `exec ${headscaleBin} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'headscale'), 0o755);
  // a shell-image pod (alpine, busybox, keinos/sqlite3): `kubectl exec … -- sh -c …` runs the
  // machine's sh in the pod's namespaces, its volumes mounted (e.g. a Headscale backup pod)
  writeFileSync(
    join(dir, 'sh'),
    [
      '#!/bin/sh',
      'if [ -n "$JUNE_E2E_POD_DIR" ]; then',
      '  exec nsenter --target "$(cat "$JUNE_E2E_POD_DIR/sandbox.pid")" --net --mount -- /bin/sh "$@"',
      'fi',
      'exec /bin/sh "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'sh'), 0o755);
  const shim = join(dir, 'tailscale');
  writeFileSync(
    shim,
    [
      '#!/bin/sh',
      "# kubectl exec -c tailscale (kwok Exec sets JUNE_E2E_POD_DIR): the CLI runs in the pod's namespaces",
      'if [ -n "$JUNE_E2E_POD_DIR" ]; then',
      `  exec nsenter --target "$(cat "$JUNE_E2E_POD_DIR/sandbox.pid")" --net --mount -- ${tailscaleBin} "$@"`,
      'fi',
      `exec ${tailscaleBin} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(shim, 0o755);
  return dir;
}

/**
 * @param {{kubeconfig:string, dir:string, logsDir:string, tsBinDir:string, apiserverPort:number,
 *          headscalePort:number, pollMs?:number, runImages?:boolean, binRoot?:string}} o
 *   runImages: also run pods whose images images.mjs maps (binRoot: the toolchain's bin dir),
 *   and provision their PersistentVolumeClaims (volumes.mjs)
 */
export function startKubelet(o) {
  const { kubeconfig, dir, logsDir, tsBinDir, apiserverPort, headscalePort, pollMs = 400 } = o;
  const { runImages = false, binRoot = dirname(tsBinDir) } = o;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  mkdirSync(dir, { recursive: true });
  // every pod runs the agent under plain node: compiled from TypeScript once, here
  const agent = join(dir, 'pod-agent.mjs');
  writeFileSync(agent, transformSync(readFileSync(AGENT_SOURCE, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20' }).code);
  mkdirSync(join(logsDir, 'pods'), { recursive: true });
  const eventsLog = join(logsDir, 'pods', 'events.log');
  const log = (msg) => appendFileSync(eventsLog, `${new Date().toISOString()} ${msg}\n`);
  // the pods' PersistentVolumeClaims: a directory each, bound by the env's provisioner
  const provisioner = runImages ? startProvisioner({ core, dir: join(dir, 'pv'), log }) : undefined;
  const claimPath = provisioner?.claimPath;
  /** How a container runs: containerboot, an image's program, or (undefined) the HTTP stand-in. */
  const runnerOf = (c) => (c.name === 'tailscale' ? { name: 'containerboot' } : runImages ? runnableImage(c.image, binRoot) : undefined);
  const runsPod = (pod) => podContainers(pod).some((c) => runnerOf(c) !== undefined);
  const hasSidecar = (rec) => rec.containers.has('tailscale');
  const socketOf = (rec) => join(rec.dir, 'tmp', 'tailscaled.sock');
  const serviceEnv = kubernetesServiceEnv({ host: '127.0.0.1', port: 443 });

  /** @type {Map<string, any>} pod uid -> pod record */
  const pods = new Map();
  /** pod uid -> when a pod whose sandbox could not be set up is tried again */
  const startRetry = new Map();
  let seq = 0;
  let stopped = false;

  const decoded = (data) =>
    Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')]));
  const src = {
    serviceEnv,
    async secret(ns, name) {
      try {
        return decoded((await core.readNamespacedSecret({ name, namespace: ns })).data);
      } catch (e) {
        if (e?.code === 404) return undefined;
        throw e;
      }
    },
    async configMap(ns, name) {
      try {
        return (await core.readNamespacedConfigMap({ name, namespace: ns })).data ?? {};
      } catch (e) {
        if (e?.code === 404) return undefined;
        throw e;
      }
    },
  };

  /** The projected service-account volume: a token bound to this pod, the cluster CA, the namespace. */
  async function writeServiceAccount(rec, pod) {
    const ns = pod.metadata.namespace;
    const sa = pod.spec.serviceAccountName || 'default';
    const tr = await core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: ns,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences: [],
          expirationSeconds: 3607,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
        },
      },
    });
    const ca = (await core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: ns })).data?.['ca.crt'];
    if (!ca) throw new Error(`configmap ${ns}/kube-root-ca.crt has no ca.crt yet`);
    const saDir = join(rec.dir, 'sa');
    mkdirSync(saDir, { recursive: true });
    writeFileSync(join(saDir, 'token'), tr.status.token, { mode: 0o600 });
    writeFileSync(join(saDir, 'ca.crt'), ca);
    writeFileSync(join(saDir, 'namespace'), ns);
    return saDir;
  }

  function agentCall(rec, path, body) {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: join(rec.dir, 'agent.sock'), path, method: 'POST', timeout: 15_000 }, (res) => {
        let s = '';
        res.on('data', (d) => (s += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(s));
          } catch (e) {
            reject(e);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`pod agent ${path} timed out`)));
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  async function createPodSandbox(rec, pod) {
    const hosts = [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      // the `kubernetes` Service, as cluster DNS would answer it
      '127.0.0.1\tkubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local',
      '',
    ].join('\n');
    const sb = await createSandbox({ name: pod.metadata.name, parentDir: rec.dir, hosts });
    rec.sandbox = sb;
    // eth0 with the pod IP, as a pod has: tailscaled counts only non-loopback addresses as
    // "network up" and otherwise never contacts its control server. The other end of the veth
    // pair stays in the pod's namespace too, so nothing is reachable through it.
    const ip = await sb.exec([
      'sh',
      '-c',
      'ip link add eth0 type veth peer name veth-peer && ip addr add "$1/32" dev eth0 && ip link set veth-peer up && ip link set eth0 up',
      'sh',
      pod.status.podIP,
    ]);
    if (ip.code !== 0) throw new Error(`pod network: ${ip.stderr.trim()}`);
    writeFileSync(join(rec.dir, 'sandbox.pid'), String(sb.pid));
    mkdirSync(join(rec.dir, 'tmp'), { recursive: true, mode: 0o1777 });
    await sb.bind(join(rec.dir, 'tmp'), '/tmp');
    await sb.forward(443, { targetPort: apiserverPort });
    await sb.forward(apiserverPort);
    await sb.forward(headscalePort);
    for (const c of podContainers(pod)) {
      if (c.name === 'tailscale' || !runnerOf(c)) continue;
      await mountVolumes(rec, pod, c);
      for (const p of (c.ports ?? []).filter((x) => (x.protocol ?? 'TCP') === 'TCP')) {
        const f = await sb.expose(p.containerPort);
        rec.exposed.set(p.containerPort, f.socketPath);
        if (p.name) rec.exposed.set(p.name, f.socketPath);
      }
      if (/headscale/.test(runnerOf(c).name ?? ''))
        writeFileSync(join(rec.dir, 'headscale.bin'), join(runnerOf(c).pathDirs[0], 'headscale'));
    }
    // the pod's token: automounted, or a projected volume a container mounts at the usual path
    // (the chart mounts one into the tailscale container only; here the pod's containers share
    // one mount namespace, so the env cannot keep it from the app stand-in)
    const mountsToken = podContainers(pod).some((c) => (c.volumeMounts ?? []).some((m) => m.mountPath === SA_DIR));
    if (pod.spec.automountServiceAccountToken !== false || mountsToken) {
      await sb.bind(await writeServiceAccount(rec, pod), SA_DIR, { readOnly: true });
    }
    // the pod's /tmp is private: a repository cloned under /tmp is reached through the host view
    rec.agent = sb.spawn([process.execPath, sb.hostPath(agent), rec.dir, pod.metadata.namespace, pod.metadata.name], {
      stdout: join(rec.logDir, 'agent.log'),
      stderr: join(rec.logDir, 'agent.log'),
    });
    await waitFor(`pod agent of ${rec.id}`, () => existsSync(join(rec.dir, 'agent.sock')), { timeoutMs: 15_000, intervalMs: 50 });
  }

  /** The volumes container c mounts: ConfigMap (files written here), emptyDir, PersistentVolumeClaim (volumes.mjs). */
  async function mountVolumes(rec, pod, c) {
    for (const m of c.volumeMounts ?? []) {
      if (m.mountPath === SA_DIR) continue;
      const v = (pod.spec.volumes ?? []).find((x) => x.name === m.name);
      if (!v) throw new Error(`volume ${m.name} not found in the pod spec`);
      if (m.subPath) throw new Error(`volume ${m.name}: subPath is not emulated`);
      let from;
      if (v.configMap) {
        from = join(rec.dir, 'vol', v.name);
        await writeConfigMapVolume(pod, v, from);
        rec.configMapVolumes.set(v.name, { v, dir: from });
      } else if (v.emptyDir) {
        from = join(rec.dir, 'vol', v.name);
        mkdirSync(from, { recursive: true, mode: 0o1777 });
      } else if (v.persistentVolumeClaim) {
        from = await claimPath?.(pod.metadata.namespace, v.persistentVolumeClaim.claimName);
        if (!from) throw new Error(`persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" is not bound`);
      } else {
        throw new Error(`volume ${v.name}: only configMap, emptyDir and persistentVolumeClaim are emulated`);
      }
      await rec.sandbox.bind(from, m.mountPath, { readOnly: !!m.readOnly || !!v.configMap });
    }
  }

  /** Writes a ConfigMap volume's files (again before each container start, as the kubelet refreshes them). */
  async function writeConfigMapVolume(pod, v, dst) {
    const data = await src.configMap(pod.metadata.namespace, v.configMap.name);
    if (!data && !v.configMap.optional) throw new Error(`configmap "${v.configMap.name}" not found`);
    mkdirSync(dst, { recursive: true });
    const items = v.configMap.items ?? Object.keys(data ?? {}).map((key) => ({ key, path: key }));
    for (const it of items) {
      if (data?.[it.key] === undefined) continue;
      mkdirSync(dirname(join(dst, it.path)), { recursive: true });
      writeFileSync(join(dst, it.path), data[it.key]);
    }
  }

  /** kwok Exec and Logs for this pod, owned by it (garbage-collected with it). */
  async function registerDebugging(rec, pod) {
    const owner = [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid }];
    const meta = { name: pod.metadata.name, namespace: pod.metadata.namespace, ownerReferences: owner };
    const logs = podContainers(pod).map((c) => ({
      containers: [c.name],
      logsFile: rec.containers.get(c.name).logFile,
      previousLogsFile: rec.containers.get(c.name).previousLogFile,
    }));
    const objs = [
      {
        plural: 'execs',
        body: {
          apiVersion: 'kwok.x-k8s.io/v1alpha1',
          kind: 'Exec',
          metadata: meta,
          spec: {
            execs: [
              {
                containers: [
                  'tailscale',
                  ...(existsSync(join(rec.dir, 'headscale.bin')) ? ['headscale'] : []),
                  ...podContainers(pod)
                    .filter((c) => /^(alpine|busybox|keinos\/sqlite3)$/.test(runnerOf(c)?.name ?? ''))
                    .map((c) => c.name),
                ],
                local: { envs: [{ name: 'JUNE_E2E_POD_DIR', value: rec.dir }] },
              },
            ],
          },
        },
      },
      { plural: 'logs', body: { apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'Logs', metadata: meta, spec: { logs } } },
    ];
    for (const o of objs) {
      await custom
        .createNamespacedCustomObject({
          group: 'kwok.x-k8s.io',
          version: 'v1alpha1',
          namespace: pod.metadata.namespace,
          plural: o.plural,
          body: o.body,
        })
        .catch((e) => log(`${rec.id}: ${o.plural}: ${errText(e)}`));
    }
  }

  // ---- containers -------------------------------------------------------------------

  const backoff = (restarts) => Math.min(BACKOFF_START_MS * 2 ** restarts, BACKOFF_MAX_MS);

  async function startContainer(rec, pod, c) {
    const st = rec.containers.get(c.name);
    const runner = runnerOf(c);
    if (runner?.pullError) {
      const pulls = st.pullErrors++;
      st.state = { waiting: { reason: pulls ? 'ImagePullBackOff' : 'ErrImagePull', message: runner.pullError } };
      st.failure = `ErrImagePull: ${runner.pullError}`;
      st.retryAt = Date.now() + backoff(pulls);
      log(`${rec.id}/${c.name}: ErrImagePull: ${runner.pullError}`);
      return;
    }
    if (runner && c.name !== 'tailscale') {
      const { env, error } = await containerEnv(pod, c, src);
      if (error) {
        st.state = { waiting: { reason: 'CreateContainerConfigError', message: error } };
        st.failure = `CreateContainerConfigError: ${error}`;
        st.retryAt = Date.now() + backoff(st.configErrors++);
        log(`${rec.id}/${c.name}: CreateContainerConfigError: ${error}`);
        return;
      }
      for (const { v, dir: to } of rec.configMapVolumes.values()) await writeConfigMapVolume(pod, v, to);
      const procEnv = { ...env, HOSTNAME: pod.metadata.name, PATH: [...runner.pathDirs, IMAGE_PATH].join(':'), HOME: '/root' };
      const argv = [...(c.command ?? runner.entrypoint), ...(c.args ?? [])];
      const out = criLogger(st.logFile);
      const p = rec.sandbox.spawn(argv, { env: procEnv, stdout: 'pipe', stderr: 'pipe' });
      p.child.stdout.on('data', out.stdout);
      p.child.stderr.on('data', out.stderr);
      st.proc = p;
      void p.exited.then(({ code, signal }) => onExit(rec, c, p, code, signal));
    } else if (c.name === 'tailscale') {
      const { env, error } = await containerEnv(pod, c, src);
      rec.hostname = env.TS_HOSTNAME || pod.metadata.name;
      if (error) {
        st.state = { waiting: { reason: 'CreateContainerConfigError', message: error } };
        st.failure = `CreateContainerConfigError: ${error}`;
        st.retryAt = Date.now() + backoff(st.configErrors++);
        log(`${rec.id}/${c.name}: CreateContainerConfigError: ${error}`);
        return;
      }
      const procEnv = {
        ...env,
        HOSTNAME: pod.metadata.name,
        PATH: `${tsBinDir}:${IMAGE_PATH}`,
        HOME: '/root',
        // Headscale's embedded DERP is served over plain HTTP; clients dial DERP with TLS unless told
        TS_DEBUG_USE_DERP_HTTP: '1',
      };
      const out = criLogger(st.logFile);
      const p = rec.sandbox.spawn([join(tsBinDir, 'containerboot')], { env: procEnv, stdout: 'pipe', stderr: 'pipe' });
      p.child.stdout.on('data', out.stdout);
      p.child.stderr.on('data', out.stderr);
      st.proc = p;
      void p.exited.then(({ code, signal }) => onExit(rec, c, p, code, signal));
    } else {
      const ports = (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort);
      const r = await agentCall(rec, '/app', { container: c.name, ports, action: 'start' });
      if (!r.ok) throw new Error(`stand-in ${c.name}: ${r.message}`);
      appendFileSync(
        st.logFile,
        `${new Date().toISOString()} stdout F e2e stand-in for ${c.name} serving ${ports.join(', ') || 'no ports'}\n`,
      );
    }
    st.state = { running: { startedAt: new Date() } };
    st.started = Date.now();
    st.failure = undefined;
    st.joined = false;
    st.probe = { startup: { ok: 0, fail: 0, last: 0 }, readiness: { ok: 0, fail: 0, last: 0 }, liveness: { ok: 0, fail: 0, last: 0 } };
    // startupProbe only for the programs of images (the sidecar's timing stays as it was measured)
    st.startupDone = !(runner && c.name !== 'tailscale' && c.startupProbe);
    st.ready = !c.readinessProbe && st.startupDone;
    log(`${rec.id}/${c.name}: started (restart ${st.restartCount})`);
  }

  function onExit(rec, c, p, code, signal) {
    const st = rec.containers.get(c.name);
    if (st.proc !== p || rec.terminating) return;
    st.proc = undefined;
    // containerboot's own last words ("boot: …") say why; tailscaled's shutdown lines do not
    const lines = tail(st.logFile, 200)
      .split('\n')
      .map((l) => l.replace(/^\S+ std(out|err) [PF] /, ''));
    const why = lines
      .filter(
        (l) => /backend error|invalid|expired|forbidden|missing .* permission|not found|FTL|fatal/i.test(l) && !l.includes('bootstrapDNS'),
      )
      .slice(-2);
    const lastLines =
      [...why, ...lines.filter((l) => l.startsWith('boot: ')).slice(-1)].join(' | ').trim() || lines.filter(Boolean).slice(-2).join(' | ');
    st.lastState = {
      terminated: {
        exitCode: code ?? 137,
        signal: undefined,
        reason: code === 0 ? 'Completed' : 'Error',
        finishedAt: new Date(),
        startedAt: st.state.running?.startedAt,
      },
    };
    st.ready = false;
    st.exits++;
    st.failure = `container ${c.name} exited (${code ?? signal})${lastLines ? `: ${lastLines}` : ''}`;
    // run-once pods (restartPolicy Never/OnFailure) end Succeeded/Failed; a pod with a sidecar
    // keeps the back-off restarts its tests were written against
    if (!hasSidecar(rec) && (rec.restartPolicy === 'Never' || (rec.restartPolicy === 'OnFailure' && code === 0))) {
      st.state = { terminated: st.lastState.terminated };
      st.lastState = undefined;
      if (code === 0) st.failure = undefined;
      st.done = true;
      const all = [...rec.containers.values()];
      if (all.every((x) => x.done)) rec.phase = all.every((x) => x.state.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
      log(`${rec.id}/${c.name}: exited ${code ?? signal} (restartPolicy ${rec.restartPolicy})${rec.phase ? `; pod ${rec.phase}` : ''}`);
      rec.dirty = true;
      return;
    }
    st.retryAt = Date.now() + backoff(st.exits - 1);
    st.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${c.name} in pod ${rec.pod}` } };
    log(`${rec.id}/${c.name}: exited ${code ?? signal}; restart in ${st.retryAt - Date.now()}ms`);
    rec.dirty = true;
  }

  async function restartContainer(rec, pod, c, why) {
    const st = rec.containers.get(c.name);
    log(`${rec.id}/${c.name}: restart (${why})`);
    if (runnerOf(c)) {
      const p = st.proc;
      st.proc = undefined;
      await p?.stop(5000);
    } else {
      await agentCall(rec, '/app', { container: c.name, action: 'stop' });
    }
    st.lastState = { terminated: { exitCode: 137, reason: 'Error', finishedAt: new Date(), startedAt: st.state.running?.startedAt } };
    st.restartCount++;
    if (existsSync(st.logFile)) renameSync(st.logFile, st.previousLogFile);
    await startContainer(rec, pod, c);
  }

  // ---- probes -------------------------------------------------------------------------

  function resolvePort(c, port) {
    if (typeof port === 'number' || /^\d+$/.test(String(port))) return Number(port);
    return c.ports?.find((p) => p.name === port)?.containerPort;
  }

  async function runProbe(rec, c, probe) {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    if (probe.httpGet) {
      const port = resolvePort(c, probe.httpGet.port);
      if (!port) return { ok: false, message: `no port ${probe.httpGet.port}` };
      const headers = Object.fromEntries((probe.httpGet.httpHeaders ?? []).map((h) => [h.name, h.value]));
      return agentCall(rec, '/probe', { type: 'http', port, path: probe.httpGet.path ?? '/', headers, timeoutMs });
    }
    if (probe.tcpSocket) {
      const port = resolvePort(c, probe.tcpSocket.port);
      if (!port) return { ok: false, message: `no port ${probe.tcpSocket.port}` };
      return agentCall(rec, '/probe', { type: 'tcp', port, timeoutMs });
    }
    if (probe.exec) {
      const r = await rec.sandbox.exec(probe.exec.command, { env: { PATH: `${tsBinDir}:${IMAGE_PATH}` }, timeoutMs });
      return { ok: r.code === 0, message: `exit ${r.code}${r.timedOut ? ' (timeout)' : ''}` };
    }
    return { ok: true, message: 'no handler' };
  }

  /** One probe tick for container c: returns 'restart' when liveness gave up on it. */
  async function probeContainer(rec, c) {
    const st = rec.containers.get(c.name);
    if (!st.state.running) return undefined;
    const now = Date.now();
    for (const kind of ['startup', 'readiness', 'liveness']) {
      const probe = c[`${kind}Probe`];
      if (!probe || (kind === 'startup') === st.startupDone) continue;
      const ps = st.probe[kind];
      if (now - st.started < (probe.initialDelaySeconds ?? 0) * 1000) continue;
      if (ps.last && now - ps.last < (probe.periodSeconds ?? 10) * 1000) continue;
      ps.last = now;
      const r = await runProbe(rec, c, probe).catch((e) => ({ ok: false, message: errText(e) }));
      if (r.ok) {
        ps.ok++;
        ps.fail = 0;
      } else {
        ps.fail++;
        ps.ok = 0;
        ps.message = r.message;
      }
      if (kind === 'startup') {
        if (r.ok) {
          st.startupDone = true;
          st.ready = !c.readinessProbe;
          log(`${rec.id}/${c.name}: startup probe passed`);
        } else if (ps.fail >= (probe.failureThreshold ?? 3)) {
          return `startup probe failed: ${r.message}`;
        }
      } else if (kind === 'readiness') {
        if (r.ok && ps.ok >= (probe.successThreshold ?? 1)) st.ready = true;
        if (!r.ok && ps.fail >= (probe.failureThreshold ?? 3)) st.ready = false;
      } else if (!r.ok && ps.fail >= (probe.failureThreshold ?? 3)) {
        return `liveness probe failed: ${r.message}`;
      }
    }
    return undefined;
  }

  // ---- pod status ---------------------------------------------------------------------

  function desiredStatus(rec, pod) {
    const statuses = podContainers(pod).map((c) => {
      const st = rec.containers.get(c.name);
      return {
        name: c.name,
        image: c.image,
        imageID: '',
        containerID: `e2e://${rec.uid}/${c.name}/${st.restartCount}`,
        ready: !!(st.ready && st.state.running),
        started: !!st.state.running,
        restartCount: st.restartCount,
        state: st.state,
        lastState: st.lastState ?? {},
      };
    });
    const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
    const sidecars = new Set(nativeSidecars(pod).map((c) => c.name));
    return {
      statuses: statuses.filter((s) => !sidecars.has(s.name)),
      initStatuses: statuses.filter((s) => sidecars.has(s.name)),
      ready: unready.length === 0,
      unready,
    };
  }

  /** Writes Ready, ContainersReady and the container statuses when they changed (pod as listed). */
  async function syncStatus(rec, pod) {
    const d = desiredStatus(rec, pod);
    const key = JSON.stringify([
      rec.phase,
      [...d.initStatuses, ...d.statuses].map((s) => [s.ready, s.restartCount, Object.keys(s.state)[0], s.state.waiting?.reason]),
      d.ready,
    ]);
    if (key === rec.statusKey && !rec.dirty) return;
    const now = new Date();
    const conds = (pod.status.conditions ?? []).filter((c) => c.type !== 'Ready' && c.type !== 'ContainersReady');
    for (const type of ['Ready', 'ContainersReady']) {
      const old = pod.status.conditions?.find((c) => c.type === type);
      const status = d.ready ? 'True' : 'False';
      conds.push({
        type,
        status,
        lastProbeTime: null,
        lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
        ...(d.ready ? {} : { reason: 'ContainersNotReady', message: `containers with unready status: [${d.unready.join(' ')}]` }),
      });
    }
    pod.status.conditions = conds;
    pod.status.containerStatuses = d.statuses;
    if (rec.phase) pod.status.phase = rec.phase;
    if (d.initStatuses.length) pod.status.initContainerStatuses = d.initStatuses;
    await core.replaceNamespacedPodStatus({ name: rec.pod, namespace: rec.namespace, body: pod });
    rec.statusKey = key;
    rec.dirty = false;
    if (rec.wasReady !== d.ready) {
      log(`${rec.id}: Ready=${d.ready}${d.ready ? '' : ` (${d.unready.join(' ')})`}`);
      rec.wasReady = d.ready;
    }
  }

  // ---- pod lifecycle ------------------------------------------------------------------

  async function startPod(rec, pod) {
    const t0 = Date.now();
    await createPodSandbox(rec, pod);
    // native sidecars (init containers with restartPolicy Always) start first, as on a node
    for (const c of podContainers(pod)) await startContainer(rec, pod, c);
    await registerDebugging(rec, pod);
    log(`${rec.id}: pod started in ${Date.now() - t0}ms`);
    rec.startedMs = Date.now() - t0;
  }

  /** Restarts due containers, runs probes, writes the status. */
  async function tickPod(rec, pod) {
    for (const c of podContainers(pod)) {
      const st = rec.containers.get(c.name);
      if (!st.state.running && st.retryAt && Date.now() >= st.retryAt) {
        st.retryAt = 0;
        if (st.state.waiting?.reason === 'CrashLoopBackOff') {
          st.restartCount++;
          if (existsSync(st.logFile)) renameSync(st.logFile, st.previousLogFile);
        }
        await startContainer(rec, pod, c);
      }
      const why = await probeContainer(rec, c);
      if (why) await restartContainer(rec, pod, c, why);
    }
    const ts = rec.containers.get('tailscale');
    if (ts?.state.running && !ts.joined && Date.now() - (ts.statusAt ?? 0) > 1000) {
      ts.statusAt = Date.now();
      ts.joined = (await localStatus(socketOf(rec)).catch(() => null))?.BackendState === 'Running';
    }
    await syncStatus(rec, pod);
  }

  async function terminate(rec, why) {
    if (rec.terminating) return rec.terminated;
    rec.terminating = true;
    log(`${rec.id}: stop (${why})`);
    rec.terminated = (async () => {
      await rec.busy?.catch(() => {});
      await rec.sandbox?.destroy(5000).catch((e) => log(`${rec.id}: sandbox destroy: ${errText(e)}`));
      rmSync(rec.dir, { recursive: true, force: true });
      pods.delete(rec.uid);
    })();
    return rec.terminated;
  }

  function newRecord(pod) {
    const n = ++seq;
    const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const rdir = join(dir, String(n));
    const logDir = join(logsDir, 'pods', `${pod.metadata.namespace}_${pod.metadata.name}`);
    mkdirSync(rdir, { recursive: true });
    mkdirSync(logDir, { recursive: true });
    for (const c of podContainers(pod)) writeFileSync(join(logDir, `${c.name}.log`), '');
    const containers = new Map(
      podContainers(pod).map((c) => [
        c.name,
        {
          state: { waiting: { reason: 'ContainerCreating' } },
          ready: false,
          restartCount: 0,
          exits: 0,
          configErrors: 0,
          pullErrors: 0,
          retryAt: 0,
          logFile: join(logDir, `${c.name}.log`),
          previousLogFile: join(logDir, `${c.name}.previous.log`),
          probe: { readiness: { ok: 0, fail: 0, last: 0 }, liveness: { ok: 0, fail: 0, last: 0 } },
        },
      ]),
    );
    return {
      n,
      id,
      uid: pod.metadata.uid,
      namespace: pod.metadata.namespace,
      pod: pod.metadata.name,
      dir: rdir,
      logDir,
      containers,
      hostname: undefined,
      createdAt: Date.now(),
      restartPolicy: pod.spec.restartPolicy ?? 'Always',
      labels: pod.metadata.labels ?? {},
      /** container port (number or name) -> unix socket reaching it inside the pod */
      exposed: new Map(),
      configMapVolumes: new Map(),
    };
  }

  async function tick() {
    const list = await core.listPodForAllNamespaces();
    const live = new Map();
    for (const pod of list.items) {
      if (!pod.spec || !runsPod(pod)) continue;
      if (pod.metadata.deletionTimestamp || ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '')) continue;
      live.set(pod.metadata.uid, pod);
    }
    // a deleted pod's processes go first: its replacement may use the same state Secret
    await Promise.all([...pods.values()].filter((r) => !live.has(r.uid)).map((r) => terminate(r, 'pod deleted')));
    for (const pod of live.values()) {
      let rec = pods.get(pod.metadata.uid);
      if (!rec) {
        if (!pod.spec.nodeName || pod.status?.phase !== 'Running' || !pod.status?.podIP) continue;
        if ((startRetry.get(pod.metadata.uid) ?? 0) > Date.now()) continue;
        rec = newRecord(pod);
        pods.set(rec.uid, rec);
        log(`${rec.id}: scheduled on ${pod.spec.nodeName}`);
        rec.busy = startPod(rec, pod).catch((e) => {
          rec.startError = errText(e);
          log(`${rec.id}: start failed: ${rec.startError}`);
        });
        continue;
      }
      if (rec.terminating || rec.inTick) continue;
      if (rec.startError) {
        startRetry.set(rec.uid, Date.now() + START_RETRY_MS);
        void terminate(rec, `start failed: ${rec.startError}`);
        continue;
      }
      rec.inTick = true;
      rec.busy = (async () => {
        await rec.busy;
        await tickPod(rec, pod);
      })()
        .catch((e) => log(`${rec.id}: tick: ${errText(e)}`))
        .finally(() => {
          rec.inTick = false;
        });
    }
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        await tick();
      } catch (e) {
        log(`poll error: ${errText(e)}`);
      }
      await sleep(pollMs);
    }
  })();

  // ---- what tests see -----------------------------------------------------------------

  const tsStatus = (rec) => localStatus(socketOf(rec));
  const recs = (namespace, hostname) =>
    [...pods.values()].filter((r) => r.namespace === namespace && r.hostname === hostname && !r.terminating).sort((a, b) => b.n - a.n);
  const sidecarState = (r) => {
    const st = r.containers.get('tailscale');
    if (st.state.running) return st.joined ? 'joined' : 'starting';
    return st.failure ? 'failed' : 'starting';
  };

  return {
    /** every pod this kubelet runs */
    list: () =>
      [...pods.values()].filter(hasSidecar).map((r) => {
        const st = r.containers.get('tailscale');
        return {
          uid: r.uid,
          id: r.id,
          namespace: r.namespace,
          pod: r.pod,
          hostname: r.hostname,
          state: sidecarState(r),
          error: st.failure,
          socket: socketOf(r),
          logFile: st.logFile,
          restartCount: st.restartCount,
          ready: r.wasReady === true,
          startedMs: r.startedMs,
        };
      }),
    /** resolves once the newest pod whose sidecar has TS_HOSTNAME=hostname is a Running node (real `tailscale status`) */
    async waitJoined(namespace, hostname, timeoutMs = 90_000) {
      return waitFor(
        `sidecar ${namespace}/${hostname} joined`,
        async () => {
          const r = recs(namespace, hostname)[0];
          const st = r?.containers.get('tailscale');
          if (!st?.state.running) return false;
          const s = await tsStatus(r);
          if (s.BackendState !== 'Running') return false;
          st.joined = true;
          return { pod: r.pod, socket: socketOf(r), status: s };
        },
        { timeoutMs, intervalMs: 300 },
      );
    },
    /** resolves with the reason once the newest such pod's sidecar failed (exited, or could not be created) */
    async waitFailed(namespace, hostname, timeoutMs = 90_000) {
      return waitFor(
        `sidecar ${namespace}/${hostname} to fail`,
        () => {
          const st = recs(namespace, hostname)[0]?.containers.get('tailscale');
          if (st?.joined) throw Object.assign(new Error(`${namespace}/${hostname} joined instead of failing`), { fatal: true });
          return st?.failure;
        },
        { timeoutMs, intervalMs: 300 },
      );
    },
    /** resolves once this pod's processes are gone */
    async waitPodGone(namespace, pod, timeoutMs = 60_000) {
      return waitFor(`pod ${namespace}/${pod} stopped`, () => ![...pods.values()].some((r) => r.namespace === namespace && r.pod === pod), {
        timeoutMs,
        intervalMs: 200,
      });
    },
    /** tailscaled socket of the newest running sidecar with this hostname */
    socketFor(hostname, namespace) {
      const r = [...pods.values()]
        .filter(
          (x) =>
            x.hostname === hostname &&
            (!namespace || x.namespace === namespace) &&
            !x.terminating &&
            x.containers.get('tailscale')?.state.running,
        )
        .sort((a, b) => b.n - a.n)[0];
      return r && socketOf(r);
    },
    /** makes GET /e2e/probe of an app stand-in answer ok, fail (500) or slow (5 s) */
    setAppMode(namespace, pod, container, mode) {
      const r = [...pods.values()].find((x) => x.namespace === namespace && x.pod === pod);
      if (!r) throw new Error(`no running pod ${namespace}/${pod}`);
      writeFileSync(join(r.dir, `mode-${container}`), mode);
    },
    /** The unix socket reaching targetPort (number or port name) of a ready pod matching selector (Service endpoints). */
    endpoint(namespace, selector, targetPort) {
      const r = [...pods.values()]
        .filter((x) => x.namespace === namespace && !x.terminating && x.wasReady && x.exposed.has(targetPort))
        .filter((x) => Object.entries(selector).every(([k, v]) => x.labels[k] === v))
        .sort((a, b) => b.n - a.n)[0];
      return r?.exposed.get(targetPort);
    },
    /** Pods running a container of this name (not terminating), newest first: { namespace, pod, ready, state, restartCount, failure } */
    containers(name) {
      return [...pods.values()]
        .filter((r) => r.containers.has(name) && !r.terminating)
        .sort((a, b) => b.n - a.n)
        .map((r) => {
          const st = r.containers.get(name);
          return {
            namespace: r.namespace,
            pod: r.pod,
            ready: r.wasReady === true,
            state: st.state,
            restartCount: st.restartCount,
            failure: st.failure,
          };
        });
    },
    /** runs argv inside the pod's network and mount namespaces */
    async execIn(namespace, pod, argv, o = {}) {
      const r = [...pods.values()].find((x) => x.namespace === namespace && x.pod === pod && x.sandbox);
      if (!r) throw new Error(`no running pod ${namespace}/${pod}`);
      return r.sandbox.exec(argv, { env: { PATH: `${tsBinDir}:${IMAGE_PATH}`, ...o.env }, timeoutMs: o.timeoutMs });
    },
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...pods.values()].map((r) => terminate(r, 'env stop')));
      await provisioner?.stop();
    },
  };
}
