// kwok Stages for pods, replacing kwok's default pod stages. Pods with a container (or a
// native sidecar) named `tailscale`, and with runImages also pods with a container whose image
// the environment runs (images.ts: headscale, a shell), are started by the environment's
// kubelet (test/e2e/env/pods): kwok only assigns their IP and phase Running with every
// container not ready; readiness, restarts, container states and (for run-once pods) the
// phase are then the kubelet's. All other pods become Ready at once, as before. Deleted pods
// are removed at once; other Job pods complete.
import { RUNNABLE_IMAGE_JQ } from './images.js';

/** A kwok selector expression (jq key). */
interface MatchExpression {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}
/** A kwok Stage object, as kwokctl reads it. */
export interface Stage {
  apiVersion: 'kwok.x-k8s.io/v1alpha1';
  kind: 'Stage';
  metadata: { name: string };
  spec: {
    resourceRef: { apiGroup: string; kind: 'Pod' | 'Node' };
    selector: { matchExpressions: MatchExpression[] };
    [field: string]: unknown;
  };
}

/** kwok selector key (jq): true when the environment's kubelet runs this pod. */
export function kubeletRunsKey(runImages: boolean): string {
  const image = runImages ? ` or ((.image // "") | test("${RUNNABLE_IMAGE_JQ}"))` : '';
  return `[(.spec.initContainers // [])[], .spec.containers[] | select(.name == "tailscale"${image})] | length > 0`;
}
const NOT_DELETED: MatchExpression = { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' };
const NO_IP: MatchExpression = { key: '.status.podIP', operator: 'DoesNotExist' };

const stage = (name: string, matchExpressions: MatchExpression[], next: Record<string, unknown>): Stage => ({
  apiVersion: 'kwok.x-k8s.io/v1alpha1',
  kind: 'Stage',
  metadata: { name },
  spec: { resourceRef: { apiGroup: 'v1', kind: 'Pod' }, selector: { matchExpressions }, next },
});

const addresses = `
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
`;

const condition = (type: string, status: 'True' | 'False') => `
- type: ${type}
  status: "${status}"
  lastTransitionTime: {{ $now | Quote }}`;

/** One status per container, all alike: ready and started as given, in `state` with these fields. */
const containerStatuses = (ready: boolean, state: 'running' | 'waiting' | 'terminated', fields: string[]) => `containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: ${ready}
  started: ${ready}
  restartCount: 0
  state:
    ${state}:
${fields.map((f) => `      ${f}`).join('\n')}
{{ end }}`;

/** Ready at once (no kubelet behind the pod). */
const readyAtOnce = `{{ $now := Now }}
conditions:${condition('Initialized', 'True')}${condition('Ready', 'True')}${condition('ContainersReady', 'True')}
{{ range .spec.readinessGates }}
- type: {{ .conditionType | Quote }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
${containerStatuses(true, 'running', ['startedAt: {{ $now | Quote }}'])}
${addresses}`;

/** Addressed and Running, nothing ready: the environment's kubelet takes it from here. */
const handedToKubelet = `{{ $now := Now }}
conditions:${condition('Initialized', 'True')}${condition('Ready', 'False')}${condition('ContainersReady', 'False')}
${containerStatuses(false, 'waiting', ['reason: ContainerCreating'])}
${addresses}`;

const jobComplete = `{{ $now := Now }}
${containerStatuses(false, 'terminated', ['exitCode: 0', 'reason: Completed', 'startedAt: {{ $now | Quote }}', 'finishedAt: {{ $now | Quote }}'])}
phase: Succeeded
`;

// Giving kwok any Stage drops all of its defaults, so the nodes' stages are here too: Ready,
// addressed at kwok-controller's --node-ip with its port as the kubelet endpoint (where
// `kubectl exec`/`logs` go), refreshed every 10 minutes (kwok renews the node leases itself).
const nodeStatus = `{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- type: {{ .type | Quote }}
  status: {{ .status | Quote }}
  reason: {{ .reason | Quote }}
  message: {{ .message | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ or $.metadata.creationTimestamp $now | Quote }}
{{ end }}
addresses:
- type: InternalIP
  address: {{ NodeIP | Quote }}
- type: Hostname
  address: {{ NodeName | Quote }}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ NodePort }}
allocatable:
  cpu: 1k
  memory: 1Ti
  pods: 1M
capacity:
  cpu: 1k
  memory: 1Ti
  pods: 1M
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version }}
  kernelVersion: {{ printf "kwok-%s" Version }}
  kubeProxyVersion: {{ printf "kwok-%s" Version }}
phase: Running
`;

const nodeStage = (name: string, matchExpressions: MatchExpression[], extra: Record<string, unknown> = {}): Stage => ({
  apiVersion: 'kwok.x-k8s.io/v1alpha1',
  kind: 'Stage',
  metadata: { name },
  spec: { resourceRef: { apiGroup: 'v1', kind: 'Node' }, selector: { matchExpressions }, ...extra, next: { statusTemplate: nodeStatus } },
});
const READY = '.status.conditions.[] | select( .type == "Ready" ) | .status';

export function nodeStages(): Stage[] {
  return [
    nodeStage('node-initialize', [{ key: READY, operator: 'NotIn', values: ['True'] }]),
    nodeStage(
      'node-heartbeat',
      [
        { key: '.status.phase', operator: 'In', values: ['Running'] },
        { key: READY, operator: 'In', values: ['True'] },
      ],
      { delay: { durationMilliseconds: 600_000, jitterDurationMilliseconds: 610_000 } },
    ),
  ];
}

export function podStages({ runImages = false } = {}): Stage[] {
  const key = kubeletRunsKey(runImages);
  const byKubelet: MatchExpression = { key, operator: 'In', values: ['true'] };
  const notByKubelet: MatchExpression = { key, operator: 'NotIn', values: ['true'] };
  return [
    stage('pod-ready', [NOT_DELETED, NO_IP, notByKubelet], { statusTemplate: readyAtOnce }),
    stage('pod-to-kubelet', [NOT_DELETED, NO_IP, byKubelet], { statusTemplate: handedToKubelet }),
    stage(
      'pod-complete',
      [
        NOT_DELETED,
        notByKubelet,
        { key: '.status.phase', operator: 'In', values: ['Running'] },
        { key: '.metadata.ownerReferences.[].kind', operator: 'In', values: ['Job'] },
      ],
      { statusTemplate: jobComplete },
    ),
    stage('pod-delete', [{ key: '.metadata.deletionTimestamp', operator: 'Exists' }], { finalizers: { empty: true }, delete: true }),
  ];
}
