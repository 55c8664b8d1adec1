// client-node objects → the seam's plain types (kube/types.ts). Secret values are
// registered with the redactor as soon as they are decoded.
import type * as k8s from '@kubernetes/client-node';
import { redactor } from '../ui/redact.js';
import type { DeploymentInfo, PodInfo, SecretInfo } from './types.js';

export function toSecretInfo(s: k8s.V1Secret): SecretInfo {
  const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  for (const v of Object.values(data)) redactor.add(v);
  return {
    name: s.metadata?.name ?? '',
    namespace: s.metadata?.namespace ?? '',
    data,
    labels: s.metadata?.labels ?? {},
    annotations: s.metadata?.annotations ?? {},
    resourceVersion: s.metadata?.resourceVersion ?? '',
  };
}

export function toDeploymentInfo(d: k8s.V1Deployment): DeploymentInfo {
  return {
    name: d.metadata?.name ?? '',
    namespace: d.metadata?.namespace ?? '',
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    currentReplicas: d.status?.replicas ?? 0,
    observedGeneration: d.status?.observedGeneration ?? 0,
    generation: d.metadata?.generation ?? 0,
    containers: d.spec?.template.spec?.containers.map((c) => c.name) ?? [],
    podLabels: d.spec?.selector.matchLabels ?? {},
  };
}

export function toPodInfo(p: k8s.V1Pod): PodInfo {
  const statuses = p.status?.containerStatuses ?? [];
  return {
    name: p.metadata?.name ?? '',
    namespace: p.metadata?.namespace ?? '',
    phase: p.status?.phase ?? 'Unknown',
    labels: p.metadata?.labels ?? {},
    deletionTimestamp: p.metadata?.deletionTimestamp ? String(p.metadata.deletionTimestamp) : undefined,
    containers: (p.spec?.containers ?? []).map((c) => {
      const st = statuses.find((s) => s.name === c.name);
      const waiting = st?.state?.waiting?.reason;
      return {
        name: c.name,
        ready: st?.ready ?? false,
        restartCount: st?.restartCount ?? 0,
        ...(waiting ? { waitingReason: waiting } : {}),
      };
    }),
  };
}
