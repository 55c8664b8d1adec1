// What the environment's kubelet remembers about each pod it runs and each of its containers.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1ContainerState, V1ObjectMeta, V1Pod, V1PodSpec, V1PodStatus, V1Volume } from '@kubernetes/client-node';
import type { Sandbox, SandboxProcess } from './netns.js';

/** A pod as the API server stores it: name, namespace, uid, spec and status are always set. */
export type KubeletPod = V1Pod & {
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: V1PodSpec;
  status: V1PodStatus;
};

export type ProbeKind = 'startup' | 'readiness' | 'liveness';
export interface ProbeState {
  ok: number;
  fail: number;
  /** when it last ran (ms) */
  last: number;
  message?: string;
}

export interface ContainerRecord {
  /** as written to the pod status */
  state: V1ContainerState;
  lastState?: V1ContainerState;
  ready: boolean;
  restartCount: number;
  /** exits seen (the back-off counts from them) */
  exits: number;
  configErrors: number;
  pullErrors: number;
  /** when a waiting container is started again (0: not planned) */
  retryAt: number;
  logFile: string;
  previousLogFile: string;
  probe: Partial<Record<ProbeKind, ProbeState>>;
  /** the container's process (containerboot, an image's program); stand-ins run in the pod agent */
  proc?: SandboxProcess;
  /** why it last failed, as tests see it */
  failure?: string;
  /** when it last started (ms) */
  started?: number;
  startupDone?: boolean;
  /** the sidecar's tailscaled said Running */
  joined?: boolean;
  /** when the sidecar's tailscaled was last asked (ms) */
  statusAt?: number;
  /** a run-once pod's container that ended for good */
  done?: boolean;
}

export interface PodRecord {
  /** start order: the newest record of a name wins */
  n: number;
  /** namespace/name */
  id: string;
  uid: string;
  namespace: string;
  pod: string;
  dir: string;
  logDir: string;
  containers: Map<string, ContainerRecord>;
  /** TS_HOSTNAME of the sidecar as the kubelet resolved it (lookup key for tests) */
  hostname: string | undefined;
  createdAt: number;
  restartPolicy: string;
  labels: Record<string, string>;
  /** container port (number or name) -> unix socket reaching it inside the pod */
  exposed: Map<number | string, string>;
  /** ConfigMap volumes by volume name, written again before each container start */
  configMapVolumes: Map<string, { v: V1Volume; dir: string }>;
  sandbox?: Sandbox;
  /** the pod agent (pod-agent.ts) */
  agent?: SandboxProcess;
  /** ms from seeing the pod Running to all its containers started */
  startedMs?: number;
  /** what the pod status was last written from */
  statusKey?: string;
  /** the status must be written even if statusKey did not change */
  dirty?: boolean;
  wasReady?: boolean;
  /** set once every container of a run-once pod ended */
  phase?: 'Succeeded' | 'Failed';
  terminating?: boolean;
  terminated?: Promise<void>;
  /** the start or tick in progress */
  busy?: Promise<void>;
  startError?: string;
  inTick?: boolean;
}

/** Init containers that run for the pod's life (native sidecars, Kubernetes 1.29+). */
export function nativeSidecars(pod: KubeletPod): V1Container[] {
  return (pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
}

/** The containers the env's kubelet runs: native sidecars first, then the pod's containers. */
export function podContainers(pod: KubeletPod): V1Container[] {
  return [...nativeSidecars(pod), ...(pod.spec.containers ?? [])];
}

/** A container's record (the record holds every container of the pod spec, which cannot change). */
export function containerOf(rec: PodRecord, name: string): ContainerRecord {
  const st = rec.containers.get(name);
  if (!st) throw new Error(`${rec.id}: no container ${name}`);
  return st;
}

export const hasSidecar = (rec: PodRecord): boolean => rec.containers.has('tailscale');
export const socketOf = (rec: PodRecord): string => join(rec.dir, 'tmp', 'tailscaled.sock');

/** A fresh record (and its dirs and empty log files) for the n-th pod this kubelet runs. */
export function newRecord(pod: KubeletPod, n: number, { dir, logsDir }: { dir: string; logsDir: string }): PodRecord {
  const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
  const rdir = join(dir, String(n));
  const logDir = join(logsDir, 'pods', `${pod.metadata.namespace}_${pod.metadata.name}`);
  mkdirSync(rdir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  for (const c of podContainers(pod)) writeFileSync(join(logDir, `${c.name}.log`), '');
  const containers = new Map(
    podContainers(pod).map((c): [string, ContainerRecord] => [
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
    exposed: new Map(),
    configMapVolumes: new Map(),
  };
}
