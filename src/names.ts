// Every name that both the CLI and the helm/june-platform chart rely on lives here.
// test/charts/names.test.ts renders the chart and fails if the two drift apart.

/** The auth Secret's name unless AUTH_SECRET_NAME says otherwise (also the chart's default). */
export const AUTH_SECRET_DEFAULT = 'headscale-auth-keys';

/** Deployment, container and ConfigMap names of the Headscale server (spec: phase 11). */
export const HEADSCALE_DEPLOYMENT = 'headscale';
export const HEADSCALE_CONTAINER = 'headscale';
export const HEADSCALE_CONFIGMAP = 'headscale-config';
/** Where the Headscale chart mounts its volume (SQLite database, noise and DERP keys). */
export const HEADSCALE_DATA_DIR = '/var/lib/headscale';

/** The sidecar container's name in every platform Deployment. */
export const SIDECAR_CONTAINER = 'tailscale';

/** Labels june-ts puts on what it writes, so later commands find exactly those objects. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'june-ts';
/** Annotation on the auth Secret: JSON map service -> id of the key june-ts minted (never the key). */
export const MINTED_KEYS_ANNOTATION = 'june-ts.dev/minted-keys';
/** Annotation on the auth Secret: JSON map service -> keys june-ts minted and later expired (ids only). */
export const RETIRED_KEYS_ANNOTATION = 'june-ts.dev/retired-keys';

/** A short service name such as `orchestrator`; everything else is derived from it. */
export function workloadName(service: string): string {
  return `june-${service}`;
}
/** Headscale user that owns the service's node. */
export function headscaleUser(service: string): string {
  return workloadName(service);
}
/** Tag that owns the service's keys and node when TAILNET_IDENTITY=tag (Headscale 0.28+). */
export function serviceTag(service: string): string {
  return `tag:${workloadName(service)}`;
}
/** Tailscale hostname of the sidecar, and so its MagicDNS label. */
export function tailnetHostname(service: string): string {
  return workloadName(service);
}
/** Key inside the auth Secret holding the service's pre-auth key. */
export function authKeyEntry(service: string): string {
  return `${workloadName(service)}-authkey`;
}
/** Secret in which the sidecar (containerboot, TS_KUBE_SECRET) keeps its node state. */
export function stateSecretName(service: string): string {
  return `${workloadName(service)}-tailscale-state`;
}
/** ServiceAccount (and Role, RoleBinding) of the sidecar. */
export function sidecarServiceAccount(service: string): string {
  return `${workloadName(service)}-tailscale`;
}
/** MagicDNS name of a service's node, e.g. june-orchestrator.tail.ozzu.world. */
export function magicDnsName(service: string, tailnetDomain: string): string {
  return `${tailnetHostname(service)}.${tailnetDomain}`;
}
/** Headscale user for the host joined by phase 11.5. */
export const HOST_USER = 'june-host';
