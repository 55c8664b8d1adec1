// The configuration reference: every key june-ts reads from config.env or the environment,
// with its default. The zod schema (schema.ts) validates exactly these keys and applies these
// defaults; config.env.example and the README table are checked against this list by
// test/unit/docs.test.ts. This file must stay free of heavy imports: `--help` reads it.
import { AUTH_SECRET_DEFAULT } from '../names.js';

export interface FieldDoc {
  key: string;
  /** The value used when the key is not set, or (with `derived`) how that value is found. */
  default?: string;
  /** The default is computed by the loader from other values; `default` describes how. */
  derived?: boolean;
  description: string;
  secret?: boolean;
  example?: string;
}

const DECLARED = [
  {
    key: 'HEADSCALE_DOMAIN',
    description: 'Public DNS name of the Headscale server (required unless HEADSCALE_URL is set).',
    example: 'headscale.ozzu.world',
  },
  {
    key: 'HEADSCALE_URL',
    default: 'https://$HEADSCALE_DOMAIN',
    derived: true,
    description:
      'Control URL the sidecars and the host log in to. http:// only for loopback or private IPs (Tailscale forces port 443 otherwise).',
  },
  {
    key: 'HEADSCALE_NAMESPACE',
    default: 'headscale',
    description: 'Namespace of the Headscale server (Deployment and container `headscale`).',
  },
  { key: 'HEADSCALE_RELEASE', default: 'headscale', description: 'Helm release name of the Headscale chart.' },
  { key: 'HEADSCALE_CHART', default: '<package>/helm/headscale', derived: true, description: 'Path of the Headscale chart.' },
  {
    key: 'HEADSCALE_VALUES',
    description:
      "Comma-separated extra values files for the Headscale chart (e.g. ingress annotations, storage class), applied under june-ts's own values.",
  },
  {
    key: 'HEADSCALE_VERSION',
    default: "image.tag of HEADSCALE_VALUES, else the chart's (0.29.3)",
    derived: true,
    description:
      'Headscale version phase 11 deploys. A running older server is upgraded one minor at a time (newest patch of each), with a backup before each step; an older version is refused.',
    example: '0.29.3',
  },
  {
    key: 'HEADSCALE_BACKUP_DIR',
    default: 'headscale-backups',
    description:
      'Directory on this machine that receives a copy of each backup phase 11 takes before an upgrade step (relative: to config.env when set there, else to the working directory); `--backup-dir` overrides it.',
  },
  {
    key: 'HEADSCALE_BACKUP_IMAGE',
    default: 'keinos/sqlite3:latest',
    description:
      "Image of the short-lived pod that backs up and restores the Headscale volume (needs sh, sqlite3, base64, sha256sum; runs as the Headscale pod's user).",
  },
  {
    key: 'HEADSCALE_TRANSPORT',
    default: 'exec',
    description: 'How june-ts talks to Headscale: `exec` (kubectl exec into the headscale container) or `api` (REST API).',
  },
  { key: 'HEADSCALE_API_URL', description: 'Headscale REST API base URL, for HEADSCALE_TRANSPORT=api (defaults to HEADSCALE_URL).' },
  {
    key: 'HEADSCALE_API_KEY',
    secret: true,
    description: 'Headscale API key for HEADSCALE_TRANSPORT=api. Put it in the environment or config.env, never on the command line.',
  },
  {
    key: 'ENABLE_TAILSCALE_SIDECARS',
    default: 'true',
    description: 'false makes `install` skip 11.2-headscale-sidecars, exactly like --skip 11.2-headscale-sidecars.',
  },
  { key: 'PLATFORM_NAMESPACE', default: 'june-services', description: 'Namespace of the June Platform release and of the auth Secret.' },
  { key: 'PLATFORM_RELEASE', default: 'june-platform', description: 'Helm release name of the June Platform chart.' },
  { key: 'PLATFORM_CHART', default: '<package>/helm/june-platform', derived: true, description: 'Path of the June Platform chart.' },
  {
    key: 'PLATFORM_VALUES',
    description: "Comma-separated extra values files for the June Platform chart, applied under june-ts's own values.",
  },
  {
    key: 'TAILSCALE_SERVICES',
    default: 'orchestrator,idp',
    description: 'Comma-separated services that get a sidecar; each becomes user, key entry and hostname `june-<service>`.',
  },
  {
    key: 'TAILNET_IDENTITY',
    default: 'user',
    description:
      "Who owns each service's keys and node: `user` (one Headscale user `june-<service>` per service) or `tag` (keys and nodes tagged `tag:june-<service>`, no users; Headscale 0.28+).",
  },
  {
    key: 'TAILNET_DOMAIN',
    default: 'tail.<parent of HEADSCALE_DOMAIN>',
    derived: true,
    description: 'MagicDNS base domain, e.g. tail.ozzu.world. Must not contain the Headscale host.',
  },
  {
    key: 'TAILNET_POLICY',
    default: 'managed',
    description:
      "Headscale access policy: `managed` (june-ts writes its own, never over a policy it did not write), `adopt` (replace the policy in force once, e.g. an operator's), `off` (june-ts writes none).",
  },
  {
    key: 'TAILNET_ADMINS',
    description:
      'Comma-separated Headscale users whose devices may reach every service on its port, like the host of 11.5 (e.g. alice,bob).',
  },
  {
    key: 'TAILNET_EDGES',
    description:
      "Comma-separated service-to-service edges the policy allows, e.g. orchestrator->idp; the port is the target's chart port. None: services reach no one.",
    example: 'orchestrator->idp',
  },
  { key: 'KEY_EXPIRATION', default: '180d', description: 'Lifetime of the reusable pre-auth keys june-ts mints (h, d or w units).' },
  {
    key: 'KEY_RENEW_BEFORE',
    default: '30d',
    description: 'A key expiring within this margin is replaced on the next run, and `status` turns amber.',
  },
  {
    key: 'KEY_RETENTION',
    default: '30d',
    description:
      'Keys june-ts expired in a rotation are deleted this long afterwards (Headscale 0.28+; older versions cannot delete keys). 0h deletes them in the same run.',
  },
  {
    key: 'AUTH_SECRET_NAME',
    default: AUTH_SECRET_DEFAULT,
    description: 'Secret in PLATFORM_NAMESPACE holding one `june-<service>-authkey` entry per service.',
  },
  { key: 'KUBECONFIG', description: "kubeconfig file (default: kubectl's own resolution)." },
  { key: 'KUBE_CONTEXT', description: 'kubeconfig context to use (default: the current context).' },
  { key: 'KUBECTL', default: 'kubectl', description: 'kubectl binary.' },
  { key: 'HELM', default: 'helm', description: 'helm binary (Helm 3 or 4).' },
  { key: 'TAILSCALE', default: 'tailscale', description: 'tailscale CLI on the host, for 11.5-tailnet-host.' },
  { key: 'TAILSCALE_SOCKET', description: "tailscaled socket on the host (default: tailscale's own)." },
  { key: 'HOST_HOSTNAME', default: '<hostname>', derived: true, description: 'Tailnet hostname of this host (11.5-tailnet-host).' },
  {
    key: 'WAIT_TIMEOUT',
    default: '5m',
    description: 'Bound on every wait: Helm rollouts, sidecars Ready, nodes online (s, m or h units).',
  },
] as const satisfies readonly FieldDoc[];

type Declared = (typeof DECLARED)[number];
export type FieldKey = Declared['key'];
/** Keys with a fixed default: never undefined once loaded. */
export type DefaultedKey = Exclude<Extract<Declared, { default: string }>, { derived: true }>['key'];

export const FIELDS: readonly (FieldDoc & { key: FieldKey })[] = DECLARED;

export const FIELD_KEYS: ReadonlySet<string> = new Set(FIELDS.map((f) => f.key));
