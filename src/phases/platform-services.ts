// Every service in TAILSCALE_SERVICES must be one the platform chart runs: a service the chart
// does not know, or one it knows but has disabled, would get a user, a key and a Secret entry,
// and then 11.2 would wait WAIT_TIMEOUT for a Deployment that never comes. Checked before
// anything changes, from the chart's defaults, the release's values and PLATFORM_VALUES.
import { join } from 'node:path';
import { didYouMean } from '../config/suggest.js';
import type { Context } from '../context.js';
import { isObject, mergeValues } from '../domain/release.js';
import { ConfigError } from '../errors.js';
import { readValuesFiles } from './release.js';

type Values = Record<string, unknown>;

const servicesOf = (values: Values): Record<string, unknown> | undefined =>
  isObject(values.services) ? (values.services as Record<string, unknown>) : undefined;

/**
 * One line per configured service the release would not run. The chart runs a Deployment for
 * every entry of `services` with `enabled: true`, whether its values.yaml (`chartDefaults`) or
 * the release's values (`values`: its user values and the values files) define it. A chart
 * whose values.yaml has no `services` map is not one june-ts can judge: nothing is said.
 */
export function serviceProblems(services: readonly string[], chartDefaults: Values, values: Values, release: string): string[] {
  if (!servicesOf(chartDefaults)) return [];
  const effective = servicesOf(mergeValues(chartDefaults, values)) ?? {};
  const defined = Object.keys(effective).filter((k) => isObject(effective[k]));
  const problems: string[] = [];
  for (const svc of services) {
    const cfg = effective[svc];
    if (!isObject(cfg)) {
      const guess = didYouMean(svc, defined);
      problems.push(
        `TAILSCALE_SERVICES: '${svc}' is not a service of release ${release} (neither the chart nor its values define services.${svc}; ` +
          `it has ${defined.join(', ')}) — ${guess ? `did you mean ${guess}? ` : ''}remove it from TAILSCALE_SERVICES, ` +
          `or define services.${svc} (image, port, enabled: true) in a PLATFORM_VALUES file`,
      );
    } else if (cfg.enabled !== true) {
      problems.push(
        `TAILSCALE_SERVICES: '${svc}' is not enabled in release ${release} (services.${svc}.enabled is ${String(cfg.enabled ?? false)}) — ` +
          `set services.${svc}.enabled=true (a PLATFORM_VALUES file with "services: {${svc}: {enabled: true}}"), or remove ${svc} from TAILSCALE_SERVICES`,
      );
    }
  }
  return problems;
}

async function chartDefaults(chart: string): Promise<Values> {
  const [defaults] = await readValuesFiles([join(chart, 'values.yaml')]).catch(() => [{}]);
  return defaults ?? {};
}

/** The chart's defaults, and the release's values with PLATFORM_VALUES merged over them. */
async function platformValues(ctx: Pick<Context, 'helm' | 'config'>): Promise<{ defaults: Values; values: Values }> {
  const { platform } = ctx.config;
  const helm = await ctx.helm();
  const [defaults, userValues, files] = await Promise.all([
    chartDefaults(platform.chart),
    helm.values(platform.release, platform.namespace),
    readValuesFiles(platform.valuesFiles),
  ]);
  return { defaults, values: files.reduce(mergeValues, userValues ?? {}) };
}

/** Throws ConfigError (exit 3) naming each service the platform release would not run. */
export async function assertServicesRun(ctx: Pick<Context, 'helm' | 'config'>): Promise<void> {
  const { platform, services } = ctx.config;
  const { defaults, values } = await platformValues(ctx);
  const problems = serviceProblems(services, defaults, values, platform.release);
  if (problems.length) {
    throw new ConfigError(problems, { hint: 'nothing was changed; fix TAILSCALE_SERVICES or the platform values and re-run' });
  }
}

/**
 * The port each service serves on (`services.<svc>.port` of the chart's defaults merged with
 * the release's values and PLATFORM_VALUES): what the access policy opens.
 */
export function servicePorts(services: readonly string[], chartDefaults: Values, values: Values): Map<string, number[]> {
  const effective = servicesOf(mergeValues(chartDefaults, values)) ?? {};
  const ports = new Map<string, number[]>();
  const problems: string[] = [];
  for (const svc of services) {
    const cfg = effective[svc];
    const port = isObject(cfg) ? cfg.port : undefined;
    if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) ports.set(svc, [port]);
    else problems.push(`services.${svc}.port is ${JSON.stringify(port) ?? 'not set'}: the access policy needs the port ${svc} serves on`);
  }
  if (problems.length)
    throw new ConfigError(problems, { hint: 'set services.<svc>.port in a PLATFORM_VALUES file, or TAILNET_POLICY=off' });
  return ports;
}

/** servicePorts for the configured services, read from the chart, the release and PLATFORM_VALUES. */
export async function readServicePorts(ctx: Pick<Context, 'helm' | 'config'>): Promise<Map<string, number[]>> {
  const { defaults, values } = await platformValues(ctx);
  return servicePorts(ctx.config.services, defaults, values);
}
