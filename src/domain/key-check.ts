// How rotate-keys proves a new pre-auth key before it expires the old one: a short-lived
// "key check" pod runs the service's own sidecar container (same image, same auth Secret
// entry, same control URL and security settings) with in-memory state, and the key is good
// when Headscale shows that pod's node registered with it. Pure: builds the pod, judges
// what Headscale reports.
import type { HsNode } from '../headscale/types.js';
import type { ContainerSpec, EnvVar, PodManifest, PodTemplateSpec } from '../kube/types.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, SIDECAR_CONTAINER, workloadName } from '../names.js';
import { nodeHasIdentity, type ServiceIdentity } from './identity.js';

/** Label on key-check pods: the service whose key they check. */
export const KEY_CHECK_LABEL = 'june-ts.dev/key-check';

/**
 * Settings of the service's sidecar that a key check must not inherit: its node state (the
 * check keeps state in memory, so it never touches the service's state Secret), and the
 * listeners the service's pod needs (health, proxies, serve config).
 */
const DROPPED_ENV = new Set([
  'TS_KUBE_SECRET',
  'TS_STATE_DIR',
  'TS_HOSTNAME',
  'TS_SERVE_CONFIG',
  'TS_SOCKS5_SERVER',
  'TS_OUTBOUND_HTTP_PROXY_LISTEN',
  'TS_ENABLE_HEALTH_CHECK',
  'TS_ENABLE_METRICS',
  'TS_LOCAL_ADDR_PORT',
  'TS_HEALTHCHECK_ADDR_PORT',
  'TS_DEST_IP',
  'TS_ROUTES',
]);

/** The tailnet hostname of a service's key check; never the service's own name. */
export function keyCheckHostname(service: string): string {
  return `${workloadName(service)}-keycheck`.slice(0, 63).replace(/-+$/, '');
}

export function findSidecar(template: PodTemplateSpec): ContainerSpec | undefined {
  return [...(template.initContainers ?? []), ...template.containers].find((c) => c.name === SIDECAR_CONTAINER);
}

/**
 * The key-check pod for a service, from its Deployment's pod template. Undefined when the
 * template has no sidecar container. The key reaches the pod only through the sidecar's own
 * secretKeyRef (never a value in the spec).
 */
export function keyCheckPod(
  service: string,
  namespace: string,
  template: PodTemplateSpec,
  deadlineSeconds: number,
): PodManifest | undefined {
  const sidecar = findSidecar(template);
  if (!sidecar) return undefined;
  const emptyDirs = new Map((template.volumes ?? []).filter((v) => v.emptyDir !== undefined).map((v) => [v.name, v]));
  const mounts = (sidecar.volumeMounts ?? []).filter((m) => emptyDirs.has(m.name));
  const env: EnvVar[] = [
    ...(sidecar.env ?? []).filter((e) => !DROPPED_ENV.has(e.name)),
    { name: 'TS_HOSTNAME', value: keyCheckHostname(service) },
    // empty: in-memory state, the service's state Secret is never read or written
    { name: 'TS_KUBE_SECRET', value: '' },
  ];
  const container: ContainerSpec = {
    name: SIDECAR_CONTAINER,
    image: sidecar.image,
    ...(sidecar.imagePullPolicy ? { imagePullPolicy: sidecar.imagePullPolicy } : {}),
    ...(sidecar.command ? { command: sidecar.command } : {}),
    ...(sidecar.args ? { args: sidecar.args } : {}),
    env,
    ...(sidecar.resources ? { resources: sidecar.resources } : {}),
    ...(sidecar.securityContext ? { securityContext: sidecar.securityContext } : {}),
    ...(mounts.length ? { volumeMounts: mounts } : {}),
  };
  const spec: Record<string, unknown> = {
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 0,
    activeDeadlineSeconds: Math.max(1, Math.ceil(deadlineSeconds)),
    containers: [container],
  };
  if (mounts.length) spec.volumes = mounts.map((m) => emptyDirs.get(m.name));
  for (const k of ['securityContext', 'nodeSelector', 'tolerations', 'affinity', 'imagePullSecrets', 'priorityClassName'] as const) {
    if (template[k] !== undefined) spec[k] = template[k];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${keyCheckHostname(service)}-`,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [KEY_CHECK_LABEL]: service },
    },
    spec,
  };
}

/** Nodes a service's key checks registered (current or left over by an interrupted run). */
export function keyCheckNodes(nodes: readonly HsNode[], service: string, identity: ServiceIdentity): HsNode[] {
  const host = keyCheckHostname(service);
  const isCheck = (name: string) => name === host || name.startsWith(`${host}-`);
  return nodes.filter((n) => nodeHasIdentity(n, identity) && (isCheck(n.name) || isCheck(n.givenName)));
}

export type KeyCheckVerdict = { state: 'proven'; node: HsNode } | { state: 'pending' | 'failed'; why: string };

/**
 * Judges a key check from Headscale's nodes: a key-check node of the service's identity (its
 * user, or its tag: a tagged key registers a node owned by the tag), with the
 * new key where Headscale says which key a node used. Key-check nodes left by an earlier run
 * are removed before a check starts (and the run lock keeps other runs out), so any found
 * belongs to this check; node creation times are not compared, since Headscale's clock
 * need not agree with this machine's.
 */
export function judgeKeyCheck(
  nodes: readonly HsNode[],
  service: string,
  identity: ServiceIdentity,
  newKeyId: string | undefined,
): KeyCheckVerdict {
  const fresh = keyCheckNodes(nodes, service, identity);
  if (!fresh.length) return { state: 'pending', why: 'no node registered yet' };
  const proven = fresh.find((n) => !n.preAuthKeyId || !newKeyId || n.preAuthKeyId === newKeyId);
  if (proven) return { state: 'proven', node: proven };
  return { state: 'failed', why: `its node registered with key ${fresh[0]!.preAuthKeyId}, not the new key ${newKeyId}` };
}
