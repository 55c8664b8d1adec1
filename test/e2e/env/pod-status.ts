// The pod status the environment's kubelet writes: each container's state, readiness and
// restarts, and the pod's Ready and ContainersReady conditions (and phase, for run-once pods).
import type { V1ContainerStatus, V1PodCondition } from '@kubernetes/client-node';
import type { KubeletContext } from './kubelet-context.js';
import { containerOf, nativeSidecars, podContainers, type KubeletPod, type PodRecord } from './pod-record.js';

function desiredStatus(rec: PodRecord, pod: KubeletPod) {
  const statuses = podContainers(pod).map((c): V1ContainerStatus => {
    const st = containerOf(rec, c.name);
    return {
      name: c.name,
      // the API server requires every container's image
      image: c.image!,
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
export async function syncStatus(ctx: KubeletContext, rec: PodRecord, pod: KubeletPod): Promise<void> {
  const d = desiredStatus(rec, pod);
  const key = JSON.stringify([
    rec.phase,
    [...d.initStatuses, ...d.statuses].map((s) => [s.ready, s.restartCount, Object.keys(s.state ?? {})[0], s.state?.waiting?.reason]),
    d.ready,
  ]);
  if (key === rec.statusKey && !rec.dirty) return;
  const now = new Date();
  const conds = (pod.status.conditions ?? []).filter((c) => c.type !== 'Ready' && c.type !== 'ContainersReady');
  for (const type of ['Ready', 'ContainersReady']) {
    const old = pod.status.conditions?.find((c) => c.type === type);
    const status = d.ready ? 'True' : 'False';
    const cond: V1PodCondition = {
      type,
      status,
      // written as null, as the kubelet does (the generated type has no null)
      lastProbeTime: null as unknown as undefined,
      lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
      ...(d.ready ? {} : { reason: 'ContainersNotReady', message: `containers with unready status: [${d.unready.join(' ')}]` }),
    };
    conds.push(cond);
  }
  pod.status.conditions = conds;
  pod.status.containerStatuses = d.statuses;
  if (rec.phase) pod.status.phase = rec.phase;
  if (d.initStatuses.length) pod.status.initContainerStatuses = d.initStatuses;
  await ctx.core.replaceNamespacedPodStatus({ name: rec.pod, namespace: rec.namespace, body: pod });
  rec.statusKey = key;
  rec.dirty = false;
  if (rec.wasReady !== d.ready) {
    ctx.log(`${rec.id}: Ready=${d.ready}${d.ready ? '' : ` (${d.unready.join(' ')})`}`);
    rec.wasReady = d.ready;
  }
}
