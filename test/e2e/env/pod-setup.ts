// Setting a pod up before its containers start, as a node does: the sandbox with the pod's
// network (eth0 with the pod IP, forwarders to the API server and Headscale), /etc/hosts,
// a private /tmp, the volumes its containers mount, the service-account token, the pod
// agent; and, once started, the kwok Exec and Logs objects that route `kubectl exec/logs`.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import { createSandbox, type Sandbox } from './netns.js';
import { SA_DIR, type KubeletContext } from './kubelet-context.js';
import { containerOf, podContainers, type KubeletPod, type PodRecord } from './pod-record.js';
import { errText, waitFor } from './util.js';

/** The projected service-account volume: a token bound to this pod, the cluster CA, the namespace. */
async function writeServiceAccount(ctx: KubeletContext, rec: PodRecord, pod: KubeletPod): Promise<string> {
  const ns = pod.metadata.namespace;
  const sa = pod.spec.serviceAccountName || 'default';
  const tr = await ctx.core.createNamespacedServiceAccountToken({
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
  const ca = (await ctx.core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: ns })).data?.['ca.crt'];
  if (!ca) throw new Error(`configmap ${ns}/kube-root-ca.crt has no ca.crt yet`);
  const saDir = join(rec.dir, 'sa');
  mkdirSync(saDir, { recursive: true });
  // the API server always answers a TokenRequest with its status
  writeFileSync(join(saDir, 'token'), tr.status!.token, { mode: 0o600 });
  writeFileSync(join(saDir, 'ca.crt'), ca);
  writeFileSync(join(saDir, 'namespace'), ns);
  return saDir;
}

/** Creates the pod's sandbox (rec.sandbox) with everything its containers expect, and starts its agent. */
export async function createPodSandbox(ctx: KubeletContext, rec: PodRecord, pod: KubeletPod): Promise<void> {
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
    // the kubelet starts a pod only once kwok has given it an IP
    pod.status.podIP!,
  ]);
  if (ip.code !== 0) throw new Error(`pod network: ${ip.stderr.trim()}`);
  writeFileSync(join(rec.dir, 'sandbox.pid'), String(sb.pid));
  mkdirSync(join(rec.dir, 'tmp'), { recursive: true, mode: 0o1777 });
  await sb.bind(join(rec.dir, 'tmp'), '/tmp');
  await sb.forward(443, { targetPort: ctx.apiserverPort });
  await sb.forward(ctx.apiserverPort);
  await sb.forward(ctx.headscalePort);
  for (const c of podContainers(pod)) {
    const runner = ctx.runnerOf(c);
    if (c.name === 'tailscale' || !runner) continue;
    await mountVolumes(ctx, rec, sb, pod, c);
    for (const p of (c.ports ?? []).filter((x) => (x.protocol ?? 'TCP') === 'TCP')) {
      const f = await sb.expose(p.containerPort);
      rec.exposed.set(p.containerPort, f.socketPath);
      if (p.name) rec.exposed.set(p.name, f.socketPath);
    }
    if ('pathDirs' in runner && /headscale/.test(runner.name))
      writeFileSync(join(rec.dir, 'headscale.bin'), join(runner.pathDirs[0]!, 'headscale'));
  }
  // the pod's token: automounted, or a projected volume a container mounts at the usual path
  // (the chart mounts one into the tailscale container only; here the pod's containers share
  // one mount namespace, so the env cannot keep it from the app stand-in)
  const mountsToken = podContainers(pod).some((c) => (c.volumeMounts ?? []).some((m) => m.mountPath === SA_DIR));
  if (pod.spec.automountServiceAccountToken !== false || mountsToken) {
    await sb.bind(await writeServiceAccount(ctx, rec, pod), SA_DIR, { readOnly: true });
  }
  // the pod's /tmp is private: a repository cloned under /tmp is reached through the host view
  rec.agent = sb.spawn([process.execPath, sb.hostPath(ctx.agent), rec.dir, pod.metadata.namespace, pod.metadata.name], {
    stdout: join(rec.logDir, 'agent.log'),
    stderr: join(rec.logDir, 'agent.log'),
  });
  await waitFor(`pod agent of ${rec.id}`, () => existsSync(join(rec.dir, 'agent.sock')), { timeoutMs: 15_000, intervalMs: 50 });
}

/** The volumes container c mounts: ConfigMap (files written here), emptyDir, PersistentVolumeClaim (volumes.ts). */
async function mountVolumes(ctx: KubeletContext, rec: PodRecord, sb: Sandbox, pod: KubeletPod, c: V1Container): Promise<void> {
  for (const m of c.volumeMounts ?? []) {
    if (m.mountPath === SA_DIR) continue;
    const v = (pod.spec.volumes ?? []).find((x) => x.name === m.name);
    if (!v) throw new Error(`volume ${m.name} not found in the pod spec`);
    if (m.subPath) throw new Error(`volume ${m.name}: subPath is not emulated`);
    let from: string | undefined;
    if (v.configMap) {
      from = join(rec.dir, 'vol', v.name);
      await writeConfigMapVolume(ctx, pod, v, from);
      rec.configMapVolumes.set(v.name, { v, dir: from });
    } else if (v.emptyDir) {
      from = join(rec.dir, 'vol', v.name);
      mkdirSync(from, { recursive: true, mode: 0o1777 });
    } else if (v.persistentVolumeClaim) {
      from = await ctx.provisioner?.claimPath(pod.metadata.namespace, v.persistentVolumeClaim.claimName);
      if (!from) throw new Error(`persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" is not bound`);
    } else {
      throw new Error(`volume ${v.name}: only configMap, emptyDir and persistentVolumeClaim are emulated`);
    }
    await sb.bind(from, m.mountPath, { readOnly: !!m.readOnly || !!v.configMap });
  }
}

/** Writes a ConfigMap volume's files (again before each container start, as the kubelet refreshes them). */
export async function writeConfigMapVolume(ctx: KubeletContext, pod: KubeletPod, v: V1Volume, dst: string): Promise<void> {
  const ref = v.configMap!;
  const data = await ctx.src.configMap(pod.metadata.namespace, ref.name ?? '');
  if (!data && !ref.optional) throw new Error(`configmap "${ref.name}" not found`);
  mkdirSync(dst, { recursive: true });
  const items = ref.items ?? Object.keys(data ?? {}).map((key) => ({ key, path: key }));
  for (const it of items) {
    const value = data?.[it.key];
    if (value === undefined) continue;
    mkdirSync(dirname(join(dst, it.path)), { recursive: true });
    writeFileSync(join(dst, it.path), value);
  }
}

/** kwok Exec and Logs for this pod, owned by it (garbage-collected with it). */
export async function registerDebugging(ctx: KubeletContext, rec: PodRecord, pod: KubeletPod): Promise<void> {
  const owner = [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid }];
  const meta = { name: pod.metadata.name, namespace: pod.metadata.namespace, ownerReferences: owner };
  const logs = podContainers(pod).map((c) => ({
    containers: [c.name],
    logsFile: containerOf(rec, c.name).logFile,
    previousLogsFile: containerOf(rec, c.name).previousLogFile,
  }));
  const shellImage = (c: V1Container) => {
    const runner = ctx.runnerOf(c);
    return /^(alpine|busybox|keinos\/sqlite3)$/.test((runner && 'name' in runner ? runner.name : undefined) ?? '');
  };
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
                  .filter(shellImage)
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
    await ctx.custom
      .createNamespacedCustomObject({
        group: 'kwok.x-k8s.io',
        version: 'v1alpha1',
        namespace: pod.metadata.namespace,
        plural: o.plural,
        body: o.body,
      })
      .catch((e) => ctx.log(`${rec.id}: ${o.plural}: ${errText(e)}`));
  }
}
