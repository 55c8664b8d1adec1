// june-ts config: the resolved configuration with the source of each value.
import { FIELDS } from '../config/fields.js';
import { REDACTED } from '../ui/redact.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { loadSettings } from './session.js';

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(globalOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const c = loadSettings(o, rt, log);
  const resolved: Record<string, string | undefined> = {
    HEADSCALE_DOMAIN: c.headscale.domain,
    HEADSCALE_URL: c.headscale.url,
    HEADSCALE_NAMESPACE: c.headscale.namespace,
    HEADSCALE_RELEASE: c.headscale.release,
    HEADSCALE_CHART: c.headscale.chart,
    HEADSCALE_VALUES: c.headscale.valuesFiles.join(',') || undefined,
    HEADSCALE_TRANSPORT: c.headscale.transport,
    HEADSCALE_API_URL: c.headscale.apiUrl,
    HEADSCALE_API_KEY: c.headscale.apiKey ? REDACTED : undefined,
    ENABLE_TAILSCALE_SIDECARS: String(c.sidecarsEnabled),
    PLATFORM_NAMESPACE: c.platform.namespace,
    PLATFORM_RELEASE: c.platform.release,
    PLATFORM_CHART: c.platform.chart,
    PLATFORM_VALUES: c.platform.valuesFiles.join(',') || undefined,
    TAILSCALE_SERVICES: c.services.join(','),
    TAILNET_DOMAIN: c.tailnetDomain,
    KEY_EXPIRATION: c.keyExpiration,
    KEY_RENEW_BEFORE: c.keyRenewBefore,
    AUTH_SECRET_NAME: c.authSecretName,
    KUBECONFIG: c.kube.kubeconfig,
    KUBE_CONTEXT: c.kube.context,
    KUBECTL: c.kube.kubectl,
    HELM: c.helm,
    TAILSCALE: c.tailscale.bin,
    TAILSCALE_SOCKET: c.tailscale.socket,
    HOST_HOSTNAME: c.hostHostname,
    WAIT_TIMEOUT: `${c.waitTimeoutMs / 1000}s`,
  };
  if (o.output === 'json') {
    log.print(JSON.stringify({ configFile: c.configPath ?? null, values: resolved, sources: c.sources }, null, 2));
    return;
  }
  log.print(`config file: ${c.configPath ?? '(none)'}`);
  const width = Math.max(...FIELDS.map((f) => f.key.length));
  for (const f of FIELDS) log.print(`${f.key.padEnd(width)}  ${(resolved[f.key] ?? '-').padEnd(30)}  ${log.c.dim(c.sources[f.key] ?? 'default')}`);
}
