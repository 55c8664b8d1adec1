// The environment's kubelet for pods that carry a container named `tailscale` (kwok hands
// them over Running and unready, see pod-stages.ts). Per pod, as a node would:
//  * a sandbox (netns.ts, set up by pod-setup.ts): its own network namespace (loopback and
//    an eth0 with the pod IP) and mount namespace, shared by its containers; the API server
//    (also as kubernetes.default.svc:443) and Headscale are reachable at 127.0.0.1 inside
//    through unix-socket forwarders;
//  * the ServiceAccount token (TokenRequest bound to the pod), ca.crt and namespace at
//    /var/run/secrets/kubernetes.io/serviceaccount, a private /etc/hosts, /tmp and /run;
//  * container `tailscale`: the real containerboot with exactly the env the kubelet computes
//    from the pod spec (container-env.ts); other containers: an HTTP stand-in on each
//    declared port (pod-agent.ts); started and restarted with back-off by pod-containers.ts;
//  * readiness/liveness probes (pod-probes.ts: httpGet, tcpSocket, exec) run inside the pod;
//    Ready, container states and restartCount written to the pod status (pod-status.ts);
//    a deleted pod's processes are killed;
//  * `kubectl exec -c tailscale` (kwok Exec) runs in the pod's namespaces, `kubectl logs`
//    (kwok Logs) shows each container's output.
// With runImages it also runs pods whose containers use an image images.ts maps to a binary
// (the headscale chart's pod, a shell pod): the real program inside the pod with its
// volumes (ConfigMap, emptyDir, PersistentVolumeClaim via volumes.ts) mounted where the pod
// spec says, its TCP ports exposed to the Service proxy, its startupProbe run, and
// `kubectl exec -c headscale -- headscale ...` run inside it.
// This file is the kubelet's loop: it starts, ticks and stops the pods; kubelet-view.ts is what tests see.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { kubeletContext, type KubeletOptions } from './kubelet-context.js';
import { kubeletView, type KubeletView } from './kubelet-view.js';
import { restartContainer, startContainer } from './pod-containers.js';
import { localStatus } from './pod-io.js';
import { probeContainer } from './pod-probes.js';
import { containerOf, newRecord, podContainers, socketOf, type KubeletPod, type PodRecord } from './pod-record.js';
import { createPodSandbox, registerDebugging } from './pod-setup.js';
import { syncStatus } from './pod-status.js';
import { errText, sleep } from './util.js';

export type { KubeletOptions } from './kubelet-context.js';

/** What tests (and the env's Service proxy) see of the kubelet, and its stop. */
export interface Kubelet extends KubeletView {
  stop(): Promise<void>;
}

const START_RETRY_MS = 2000;

export function startKubelet(o: KubeletOptions): Kubelet {
  const { pollMs = 400 } = o;
  const ctx = kubeletContext(o);
  const { core, log, tsBinDir, provisioner } = ctx;
  const runsPod = (pod: KubeletPod) => podContainers(pod).some((c) => ctx.runnerOf(c) !== undefined);

  /** pod uid -> pod record */
  const pods = new Map<string, PodRecord>();
  /** pod uid -> when a pod whose sandbox could not be set up is tried again */
  const startRetry = new Map<string, number>();
  let seq = 0;
  let stopped = false;

  async function startPod(rec: PodRecord, pod: KubeletPod) {
    const t0 = Date.now();
    await createPodSandbox(ctx, rec, pod);
    // native sidecars (init containers with restartPolicy Always) start first, as on a node
    for (const c of podContainers(pod)) await startContainer(ctx, rec, pod, c);
    await registerDebugging(ctx, rec, pod);
    log(`${rec.id}: pod started in ${Date.now() - t0}ms`);
    rec.startedMs = Date.now() - t0;
  }

  /** Restarts due containers, runs probes, writes the status. */
  async function tickPod(rec: PodRecord, pod: KubeletPod) {
    for (const c of podContainers(pod)) {
      const st = containerOf(rec, c.name);
      if (!st.state.running && st.retryAt && Date.now() >= st.retryAt) {
        st.retryAt = 0;
        if (st.state.waiting?.reason === 'CrashLoopBackOff') {
          st.restartCount++;
          if (existsSync(st.logFile)) renameSync(st.logFile, st.previousLogFile);
        }
        await startContainer(ctx, rec, pod, c);
      }
      const why = await probeContainer(ctx, rec, c);
      if (why) await restartContainer(ctx, rec, pod, c, why);
    }
    const ts = rec.containers.get('tailscale');
    if (ts?.state.running && !ts.joined && Date.now() - (ts.statusAt ?? 0) > 1000) {
      ts.statusAt = Date.now();
      ts.joined = (await localStatus(socketOf(rec)).catch(() => null))?.BackendState === 'Running';
    }
    await syncStatus(ctx, rec, pod);
  }

  async function terminate(rec: PodRecord, why: string) {
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

  async function tick() {
    const list = await core.listPodForAllNamespaces();
    const live = new Map<string, KubeletPod>();
    for (const listed of list.items) {
      if (!listed.spec) continue;
      // the API server sets name, namespace, uid and status on every pod it stores
      const pod = listed as KubeletPod;
      if (!runsPod(pod)) continue;
      if (pod.metadata.deletionTimestamp || ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '')) continue;
      live.set(pod.metadata.uid, pod);
    }
    // a deleted pod's processes go first: its replacement may use the same state Secret
    await Promise.all([...pods.values()].filter((r) => !live.has(r.uid)).map((r) => terminate(r, 'pod deleted')));
    for (const pod of live.values()) {
      const rec = pods.get(pod.metadata.uid);
      if (!rec) {
        if (!pod.spec.nodeName || pod.status?.phase !== 'Running' || !pod.status?.podIP) continue;
        if ((startRetry.get(pod.metadata.uid) ?? 0) > Date.now()) continue;
        const fresh = newRecord(pod, ++seq, ctx);
        pods.set(fresh.uid, fresh);
        log(`${fresh.id}: scheduled on ${pod.spec.nodeName}`);
        fresh.busy = startPod(fresh, pod).catch((e) => {
          fresh.startError = errText(e);
          log(`${fresh.id}: start failed: ${fresh.startError}`);
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

  return {
    ...kubeletView(pods, tsBinDir),
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...pods.values()].map((r) => terminate(r, 'env stop')));
      await provisioner?.stop();
    },
  };
}

/** For startEnv({ sidecars: false }): no kubelet runs pods, nothing ever joins. */
export function noKubelet(): Kubelet {
  const off = async (): Promise<never> => {
    throw new Error('startEnv({ sidecars: false }): no kubelet runs pods');
  };
  const offSync = (): never => {
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
