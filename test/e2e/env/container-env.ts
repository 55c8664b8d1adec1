// A container's environment computed the way the kubelet computes it from the pod spec
// the API server holds: service variables first, then envFrom, then env in order, with
// $(VAR) references to anything defined before them.
import type { V1Container, V1Pod } from '@kubernetes/client-node';

/** Expands $(VAR) from `vars`; `$$` escapes; unknown references stay as written. */
export function expandRefs(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string) => {
    if (m === '$$') return '$';
    return Object.hasOwn(vars, name) ? vars[name]! : m;
  });
}

/** The value a fieldRef names, or undefined for a path the kubelet would not resolve. */
export function fieldValue(pod: V1Pod, path: string): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return pod.metadata?.[m[1] as 'labels' | 'annotations']?.[m[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name;
    case 'metadata.namespace':
      return pod.metadata?.namespace;
    case 'metadata.uid':
      return pod.metadata?.uid;
    case 'spec.nodeName':
      return pod.spec?.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName;
    case 'status.hostIP':
      return pod.status?.hostIP ?? '';
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.podIPs':
      return (pod.status?.podIPs ?? []).map((p) => p.ip).join(',');
    default:
      return undefined;
  }
}

/**
 * Service variables a pod sees for the `kubernetes` Service, pointing where that Service
 * answers inside this environment's pods.
 */
export function kubernetesServiceEnv({ host, port }: { host: string; port: number }): Record<string, string> {
  const p = String(port);
  return {
    KUBERNETES_SERVICE_HOST: host,
    KUBERNETES_SERVICE_PORT: p,
    KUBERNETES_SERVICE_PORT_HTTPS: p,
    KUBERNETES_PORT: `tcp://${host}:${p}`,
    [`KUBERNETES_PORT_${p}_TCP`]: `tcp://${host}:${p}`,
    [`KUBERNETES_PORT_${p}_TCP_PROTO`]: 'tcp',
    [`KUBERNETES_PORT_${p}_TCP_PORT`]: p,
    [`KUBERNETES_PORT_${p}_TCP_ADDR`]: host,
  };
}

export interface EnvSources {
  serviceEnv: Record<string, string>;
  /** decoded data, or undefined when the Secret does not exist */
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/**
 * @returns error: the kubelet's CreateContainerConfigError message (the container is not started);
 *   env then holds the entries that did resolve (for naming the container in reports only)
 */
export async function containerEnv(
  pod: V1Pod,
  container: Pick<V1Container, 'env' | 'envFrom'>,
  src: EnvSources,
): Promise<{ env: Record<string, string>; error?: string }> {
  const ns = pod.metadata?.namespace ?? '';
  const env: Record<string, string> = { ...src.serviceEnv };
  let error: string | undefined;
  const fail = (msg: string) => {
    error ??= msg;
  };
  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef ?? {};
    const kind = from.secretRef ? 'secret' : 'configmap';
    const data = await (from.secretRef ? src.secret(ns, ref.name ?? '') : src.configMap(ns, ref.name ?? ''));
    if (!data) {
      if (!ref.optional) fail(`${kind} "${ref.name}" not found`);
      continue;
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of container.env ?? []) {
    const vf = e.valueFrom;
    // the API server drops `value: ""`; the kubelet sets such a variable to the empty string
    if (!vf) {
      env[e.name] = expandRefs(e.value ?? '', env);
      continue;
    }
    if (vf.secretKeyRef || vf.configMapKeyRef) {
      const ref = (vf.secretKeyRef ?? vf.configMapKeyRef)!;
      const isSecret = !!vf.secretKeyRef;
      const data = await (isSecret ? src.secret(ns, ref.name ?? '') : src.configMap(ns, ref.name ?? ''));
      if (!data) {
        if (!ref.optional) fail(`${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`);
        continue;
      }
      if (!Object.hasOwn(data, ref.key)) {
        if (!ref.optional) fail(`couldn't find key ${ref.key} in ${isSecret ? 'Secret' : 'ConfigMap'} ${ns}/${ref.name}`);
        continue;
      }
      env[e.name] = data[ref.key]!;
    } else if (vf.fieldRef) {
      const v = fieldValue(pod, vf.fieldRef.fieldPath);
      if (v === undefined) fail(`unsupported fieldRef ${vf.fieldRef.fieldPath}`);
      else env[e.name] = v;
    } else {
      fail(`env ${e.name}: valueFrom ${Object.keys(vf).join(',')} is not supported by the e2e kubelet`);
    }
  }
  return error ? { env, error } : { env };
}
