// Loads the config: the raw values of config.env, the environment and flags (./sources.ts),
// validated with zod, checked across keys and against the files they name, with derived
// values resolved. Every problem becomes one line of a ConfigError.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { redactor } from '../ui/redact.js';
import { FIELDS, type FieldKey } from './fields.js';
import { isFile, valuesFileProblem } from './file-checks.js';
import { keyDurationMs, rawConfigSchema, waitDurationMs } from './schema.js';
import { readSources, type LoadOptions, type Source } from './sources.js';

export interface Config {
  configPath: string | undefined;
  headscale: {
    domain: string | undefined;
    url: string;
    namespace: string;
    release: string;
    chart: string;
    /** Extra values files, absolute paths. */
    valuesFiles: string[];
    /** HEADSCALE_VERSION; undefined: the values files' image.tag or the chart's. */
    version: string | undefined;
    /** Relative in config.env: to that file (resolved here); from the environment: to the working directory. */
    backupDir: string;
    backupImage: string;
    transport: 'exec' | 'api';
    apiUrl: string;
    apiKey: string | undefined;
  };
  sidecarsEnabled: boolean;
  platform: { namespace: string; release: string; chart: string; valuesFiles: string[] };
  services: string[];
  /** Who owns the services' keys and nodes: one user each, or (Headscale 0.28+) a tag each. */
  tailnetIdentity: 'user' | 'tag';
  /** The access policy june-ts derives (src/domain/policy.ts). */
  policy: { mode: 'managed' | 'adopt' | 'off'; admins: string[]; edges: { from: string; to: string }[] };
  tailnetDomain: string;
  keyExpiration: string;
  keyRenewBefore: string;
  keyRenewBeforeMs: number;
  keyRetention: string;
  keyRetentionMs: number;
  authSecretName: string;
  kube: { kubeconfig: string | undefined; context: string | undefined; kubectl: string };
  helm: string;
  tailscale: { bin: string; socket: string | undefined };
  hostHostname: string;
  waitTimeoutMs: number;
  /** Where each key's value came from, for `june-ts config` and messages. */
  sources: Record<string, Source>;
  /** Each key's value as resolved (defaults and derived values filled in), for `june-ts config`. */
  resolved: Record<FieldKey, string | undefined>;
}

/** The directory holding june-ts's package.json: src/config/ when run from source, dist/chunks/ when bundled. */
function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(resolve(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(start, '..', '..');
  }
}
const PACKAGE_ROOT = packageRoot();
export const BUNDLED_CHARTS = {
  platform: resolve(PACKAGE_ROOT, 'helm', 'june-platform'),
  headscale: resolve(PACKAGE_ROOT, 'helm', 'headscale'),
};

export function loadConfig(options: LoadOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const { configPath, fileLoaded, raw, sources } = readSources(options, cwd);
  redactor.add(raw.HEADSCALE_API_KEY);

  const parsed = rawConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = [...new Set(parsed.error.issues.map((i) => i.message))];
    throw new ConfigError(problems, {
      hint: fileLoaded
        ? `fix ${configPath} (or the environment variables named above)`
        : 'create config.env from config.env.example, or pass --config PATH',
    });
  }
  const c = parsed.data;
  const url = (c.HEADSCALE_URL ?? `https://${c.HEADSCALE_DOMAIN}`).replace(/\/$/, '');
  const serverHost = new URL(url).hostname;
  const tailnetDomain = c.TAILNET_DOMAIN ?? defaultTailnetDomain(c.HEADSCALE_DOMAIN ?? serverHost);
  const problems: string[] = [];
  if (tailnetDomain === serverHost || tailnetDomain.endsWith(`.${serverHost}`) || serverHost.endsWith(`.${tailnetDomain}`)) {
    problems.push(
      `TAILNET_DOMAIN: '${tailnetDomain}' overlaps the Headscale host '${serverHost}'; Headscale refuses a MagicDNS base domain that equals or contains its own host — use e.g. tail.${parentDomain(serverHost) ?? 'example.com'}`,
    );
  }
  if (keyDurationMs(c.KEY_RENEW_BEFORE) >= keyDurationMs(c.KEY_EXPIRATION)) {
    problems.push(
      `KEY_RENEW_BEFORE: '${c.KEY_RENEW_BEFORE}' is not shorter than KEY_EXPIRATION '${c.KEY_EXPIRATION}' — every run would mint new keys; use e.g. KEY_RENEW_BEFORE=30d with KEY_EXPIRATION=180d`,
    );
  }
  // Paths written in config.env are relative to that file; from flags or env, to the cwd.
  const pathOf = (key: FieldKey, value: string) =>
    isAbsolute(value) ? value : resolve(sources[key] === 'file' ? dirname(configPath) : cwd, value);
  const chartPath = (key: 'HEADSCALE_CHART' | 'PLATFORM_CHART', value: string | undefined, bundled: string) =>
    value ? pathOf(key, value) : bundled;
  const valuesFiles = (key: 'HEADSCALE_VALUES' | 'PLATFORM_VALUES', value: string | undefined) =>
    (value ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean)
      .map((v) => pathOf(key, v));
  // A missing or broken values file must fail here (exit 3, nothing changed), not at the
  // helm step after earlier phases minted keys and wrote the Secret.
  for (const key of ['HEADSCALE_VALUES', 'PLATFORM_VALUES'] as const) {
    for (const file of valuesFiles(key, c[key])) {
      if (!isFile(file)) problems.push(`${key}: '${file}' is not a file — fix the path (in config.env, relative to that file)`);
      else {
        const why = valuesFileProblem(file);
        if (why) problems.push(`${key}: '${file}' ${why}`);
      }
    }
  }
  for (const key of ['HEADSCALE_CHART', 'PLATFORM_CHART'] as const) {
    const value = c[key];
    if (value && isFile(pathOf(key, value))) {
      problems.push(`${key}: '${pathOf(key, value)}' is a file — point it at the chart's directory (the one holding Chart.yaml)`);
    }
  }
  if (problems.length) throw new ConfigError(problems, { hint: `fix ${configPath} (or the environment variables named above)` });

  const headscaleChart = chartPath('HEADSCALE_CHART', c.HEADSCALE_CHART, BUNDLED_CHARTS.headscale);
  const platformChart = chartPath('PLATFORM_CHART', c.PLATFORM_CHART, BUNDLED_CHARTS.platform);
  const headscaleValues = valuesFiles('HEADSCALE_VALUES', c.HEADSCALE_VALUES);
  const platformValues = valuesFiles('PLATFORM_VALUES', c.PLATFORM_VALUES);
  const apiUrl = (c.HEADSCALE_API_URL ?? url).replace(/\/$/, '');
  const hostHostname = c.HOST_HOSTNAME ?? sanitizeHostname(hostname());
  const waitTimeoutMs = waitDurationMs(c.WAIT_TIMEOUT);
  const resolved = Object.fromEntries(FIELDS.map((f) => [f.key, typeof c[f.key] === 'string' ? c[f.key] : undefined])) as Record<
    FieldKey,
    string | undefined
  >;
  Object.assign(resolved, {
    HEADSCALE_URL: url,
    HEADSCALE_CHART: headscaleChart,
    HEADSCALE_VALUES: headscaleValues.join(',') || undefined,
    HEADSCALE_API_URL: apiUrl,
    ENABLE_TAILSCALE_SIDECARS: String(c.ENABLE_TAILSCALE_SIDECARS),
    PLATFORM_CHART: platformChart,
    PLATFORM_VALUES: platformValues.join(',') || undefined,
    TAILSCALE_SERVICES: c.TAILSCALE_SERVICES.join(','),
    TAILNET_ADMINS: c.TAILNET_ADMINS?.join(',') || undefined,
    TAILNET_EDGES: c.TAILNET_EDGES?.map((e) => `${e.from}->${e.to}`).join(',') || undefined,
    TAILNET_DOMAIN: tailnetDomain,
    HOST_HOSTNAME: hostHostname,
    WAIT_TIMEOUT: `${waitTimeoutMs / 1000}s`,
  } satisfies Partial<typeof resolved>);

  return {
    configPath: fileLoaded ? configPath : undefined,
    headscale: {
      domain: c.HEADSCALE_DOMAIN,
      url,
      namespace: c.HEADSCALE_NAMESPACE,
      release: c.HEADSCALE_RELEASE,
      chart: headscaleChart,
      valuesFiles: headscaleValues,
      version: c.HEADSCALE_VERSION,
      backupDir: sources.HEADSCALE_BACKUP_DIR === 'file' ? resolve(dirname(configPath), c.HEADSCALE_BACKUP_DIR) : c.HEADSCALE_BACKUP_DIR,
      backupImage: c.HEADSCALE_BACKUP_IMAGE,
      transport: c.HEADSCALE_TRANSPORT,
      apiUrl,
      apiKey: c.HEADSCALE_API_KEY,
    },
    sidecarsEnabled: c.ENABLE_TAILSCALE_SIDECARS,
    platform: {
      namespace: c.PLATFORM_NAMESPACE,
      release: c.PLATFORM_RELEASE,
      chart: platformChart,
      valuesFiles: platformValues,
    },
    services: c.TAILSCALE_SERVICES,
    tailnetIdentity: c.TAILNET_IDENTITY,
    policy: { mode: c.TAILNET_POLICY, admins: c.TAILNET_ADMINS ?? [], edges: c.TAILNET_EDGES ?? [] },
    tailnetDomain,
    keyExpiration: c.KEY_EXPIRATION,
    keyRenewBefore: c.KEY_RENEW_BEFORE,
    keyRenewBeforeMs: keyDurationMs(c.KEY_RENEW_BEFORE),
    keyRetention: c.KEY_RETENTION,
    keyRetentionMs: keyDurationMs(c.KEY_RETENTION),
    authSecretName: c.AUTH_SECRET_NAME,
    kube: { kubeconfig: c.KUBECONFIG, context: c.KUBE_CONTEXT, kubectl: c.KUBECTL },
    helm: c.HELM,
    tailscale: { bin: c.TAILSCALE, socket: c.TAILSCALE_SOCKET },
    hostHostname,
    waitTimeoutMs,
    sources,
    resolved,
  };
}

function parentDomain(host: string): string | undefined {
  const parts = host.split('.');
  return parts.length > 2 ? parts.slice(1).join('.') : undefined;
}

function defaultTailnetDomain(host: string): string {
  // An IP address (http://127.0.0.1:8080) has no parent domain: 127.0.0.1 must not become tail.0.0.1.
  const parent = isIP(host.replace(/^\[|\]$/g, '')) ? undefined : parentDomain(host);
  return parent ? `tail.${parent}` : 'tail.june.internal';
}

function sanitizeHostname(h: string): string {
  const s = h
    .toLowerCase()
    .split('.')[0]!
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
  return s || 'june-host';
}
