// What Pod Security admission does to the sidecar pods: a namespace's enforce label against
// the sidecar's mode. Kernel mode runs the sidecar as root with NET_ADMIN and NET_RAW, which
// only the "privileged" level admits; userspace mode passes "restricted".
import { isObject } from './release.js';

export const POD_SECURITY_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

export type PodSecurityVerdict = { ok: true; detail: string } | { ok: false; detail: string; fix: string };

/** tailscale.userspace of the effective values (chart defaults, release, files); true when unset (the chart's default). */
export function sidecarKernelMode(values: Record<string, unknown>): boolean {
  const ts = isObject(values.tailscale) ? values.tailscale : {};
  return ts.userspace === false;
}

export function sidecarPodSecurity(namespace: string, labels: Record<string, string> | null, kernelMode: boolean): PodSecurityVerdict {
  const mode = kernelMode ? 'kernel mode (tailscale.userspace=false)' : 'userspace mode';
  if (labels === null)
    return {
      ok: true,
      detail: `namespace ${namespace} does not exist yet (install creates it without Pod Security labels); sidecars in ${mode}`,
    };
  const level = labels[POD_SECURITY_ENFORCE_LABEL];
  const enforced = level ? `enforces "${level}"` : 'has no Pod Security enforce label';
  if (!kernelMode || !level || level === 'privileged')
    return { ok: true, detail: `namespace ${namespace} ${enforced}; sidecars in ${mode}` };
  return {
    ok: false,
    detail:
      `namespace ${namespace} enforces Pod Security "${level}" (label ${POD_SECURITY_ENFORCE_LABEL}=${level}) and the sidecars would run in ${mode}, ` +
      'as root with NET_ADMIN and NET_RAW: the API server refuses their pods (only "privileged" admits them), so no pod of a service would start',
    fix:
      `keep tailscale.userspace=true (the default; it passes "restricted"), or, if the sidecars must run in kernel mode, ` +
      `kubectl label namespace ${namespace} ${POD_SECURITY_ENFORCE_LABEL}=privileged --overwrite (and set tailscale.allowKernelMode=true)`,
  };
}
