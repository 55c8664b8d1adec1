// What tests (and the env's Service proxy) see of the environment's kubelet: the pods it
// runs, their sidecars' tailscaled, their containers' states, and a way into a pod.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1ContainerState } from '@kubernetes/client-node';
import { IMAGE_PATH } from './kubelet-context.js';
import type { ExecResult } from './netns.js';
import { localStatus, type TailscaleStatus } from './pod-io.js';
import { containerOf, hasSidecar, socketOf, type PodRecord } from './pod-record.js';
import { waitFor } from './util.js';

export interface SidecarInfo {
  uid: string;
  id: string;
  namespace: string;
  pod: string;
  /** TS_HOSTNAME as the kubelet resolved it for the container (lookup key only) */
  hostname?: string;
  /** joined: tailscaled says Running; failed: the container exited or could not be created (CreateContainerConfigError) */
  state: 'starting' | 'joined' | 'failed';
  error?: string;
  /** the pod's /tmp/tailscaled.sock as seen from outside the pod */
  socket: string;
  /** containerboot's output (CRI format, what `kubectl logs -c tailscale` shows) */
  logFile: string;
  restartCount: number;
  ready: boolean;
  /** ms from seeing the pod Running to all its containers started */
  startedMs?: number;
}

export interface ContainerInfo {
  namespace: string;
  pod: string;
  /** the pod's Ready condition as the kubelet last wrote it */
  ready: boolean;
  /** as in the pod status: { running } | { waiting: { reason: 'CrashLoopBackOff' | 'ErrImagePull' | … } } | { terminated } */
  state: V1ContainerState;
  restartCount: number;
  /** why it last failed (exit with its last log lines, ErrImagePull, CreateContainerConfigError) */
  failure?: string;
}

export interface KubeletView {
  /** every pod with a sidecar this kubelet runs */
  list(): SidecarInfo[];
  /** waits until the newest sidecar with TS_HOSTNAME=hostname has BackendState Running; rejects early if it failed */
  waitJoined(namespace: string, hostname: string, timeoutMs?: number): Promise<{ pod: string; socket: string; status: TailscaleStatus }>;
  /** waits until the newest sidecar with this hostname failed to join; resolves with the error text */
  waitFailed(namespace: string, hostname: string, timeoutMs?: number): Promise<string>;
  /** waits until the processes of this pod have been stopped (pod deleted) */
  waitPodGone(namespace: string, pod: string, timeoutMs?: number): Promise<void>;
  /** socket of the newest running sidecar with this hostname: `tailscale --socket=… ping …` */
  socketFor(hostname: string, namespace?: string): string | undefined;
  /** GET /e2e/probe of the app stand-in `container` of this pod answers ok, fail (HTTP 500) or slow (5 s) */
  setAppMode(namespace: string, pod: string, container: string, mode: 'ok' | 'fail' | 'slow'): void;
  /** the unix socket reaching targetPort (number or port name) of a ready pod matching selector (Service endpoints) */
  endpoint(namespace: string, selector: Record<string, string>, targetPort: number | string): string | undefined;
  /** every pod the kubelet runs with a container of this name (e.g. 'headscale'), newest first */
  containers(name: string): ContainerInfo[];
  /** runs argv inside the pod's network and mount namespaces (PATH has tailscale, curl) */
  execIn(namespace: string, pod: string, argv: string[], o?: { env?: Record<string, string>; timeoutMs?: number }): Promise<ExecResult>;
}

/** The kubelet's pods (pod uid -> record) as tests ask about them. */
export function kubeletView(pods: Map<string, PodRecord>, tsBinDir: string): KubeletView {
  const tsStatus = (rec: PodRecord) => localStatus(socketOf(rec));
  const recs = (namespace: string, hostname: string) =>
    [...pods.values()].filter((r) => r.namespace === namespace && r.hostname === hostname && !r.terminating).sort((a, b) => b.n - a.n);
  const sidecarState = (r: PodRecord): SidecarInfo['state'] => {
    const st = containerOf(r, 'tailscale');
    if (st.state.running) return st.joined ? 'joined' : 'starting';
    return st.failure ? 'failed' : 'starting';
  };

  return {
    list: () =>
      [...pods.values()].filter(hasSidecar).map((r) => {
        const st = containerOf(r, 'tailscale');
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
    async waitJoined(namespace, hostname, timeoutMs = 90_000) {
      return waitFor(
        `sidecar ${namespace}/${hostname} joined`,
        async () => {
          const r = recs(namespace, hostname)[0];
          const st = r?.containers.get('tailscale');
          if (!r || !st?.state.running) return undefined;
          const s = await tsStatus(r);
          if (s.BackendState !== 'Running') return undefined;
          st.joined = true;
          return { pod: r.pod, socket: socketOf(r), status: s };
        },
        { timeoutMs, intervalMs: 300 },
      );
    },
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
    async waitPodGone(namespace, pod, timeoutMs = 60_000) {
      await waitFor(`pod ${namespace}/${pod} stopped`, () => ![...pods.values()].some((r) => r.namespace === namespace && r.pod === pod), {
        timeoutMs,
        intervalMs: 200,
      });
    },
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
    setAppMode(namespace, pod, container, mode) {
      const r = [...pods.values()].find((x) => x.namespace === namespace && x.pod === pod);
      if (!r) throw new Error(`no running pod ${namespace}/${pod}`);
      writeFileSync(join(r.dir, `mode-${container}`), mode);
    },
    endpoint(namespace, selector, targetPort) {
      const r = [...pods.values()]
        .filter((x) => x.namespace === namespace && !x.terminating && x.wasReady && x.exposed.has(targetPort))
        .filter((x) => Object.entries(selector).every(([k, v]) => x.labels[k] === v))
        .sort((a, b) => b.n - a.n)[0];
      return r?.exposed.get(targetPort);
    },
    containers(name) {
      return [...pods.values()]
        .filter((r) => r.containers.has(name) && !r.terminating)
        .sort((a, b) => b.n - a.n)
        .map((r) => {
          const st = containerOf(r, name);
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
    async execIn(namespace, pod, argv, o = {}) {
      const r = [...pods.values()].find((x) => x.namespace === namespace && x.pod === pod && x.sandbox);
      if (!r?.sandbox) throw new Error(`no running pod ${namespace}/${pod}`);
      return r.sandbox.exec(argv, { env: { PATH: `${tsBinDir}:${IMAGE_PATH}`, ...o.env }, timeoutMs: o.timeoutMs });
    },
  };
}
