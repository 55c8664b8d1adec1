// helm upgrade --install only when something would change, so a re-run makes no new revision.
import type { Context } from '../context.js';

export interface ReleaseSpec {
  release: string;
  namespace: string;
  chart: string;
  /** Values june-ts sets; merged over the deployed release's user values and the values files. */
  values: Record<string, unknown>;
  /** Extra values files from config (HEADSCALE_VALUES / PLATFORM_VALUES). */
  valuesFiles?: string[];
  label: string;
}

export type ReleaseOutcome = 'installed' | 'upgraded' | 'unchanged';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge, everything else in `over` replaces. */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObject(v) && isObject(out[k]) ? mergeValues(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

export function sameValues(a: unknown, b: unknown): boolean {
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => sameValues(a[k], b[k]));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValues(x, b[i]));
  return a === b;
}

export async function readValuesFiles(paths: readonly string[]): Promise<Record<string, unknown>[]> {
  if (!paths.length) return [];
  const [{ readFile }, { parse }, { UsageError }] = await Promise.all([import('node:fs/promises'), import('yaml'), import('../errors.js')]);
  return Promise.all(
    paths.map(async (p) => {
      let text: string;
      try {
        text = await readFile(p, 'utf8');
      } catch {
        throw new UsageError(`values file ${p} cannot be read`, { hint: 'fix HEADSCALE_VALUES / PLATFORM_VALUES' });
      }
      let doc: unknown;
      try {
        doc = parse(text);
      } catch (e) {
        throw new UsageError(`values file ${p} is not valid YAML: ${(e as Error).message.split('\n')[0]}`, { hint: 'fix the file' });
      }
      if (doc !== null && !isObject(doc)) throw new UsageError(`values file ${p} must hold a YAML mapping`, { hint: 'fix the file' });
      return (doc ?? {}) as Record<string, unknown>;
    }),
  );
}

/**
 * The user's values of the deployed release are read back and june-ts's values merged over
 * them (rather than `--reuse-values`, which also freezes the chart's defaults at the first
 * install and hides from the plan what will be applied).
 */
export async function ensureRelease(ctx: Pick<Context, 'helm' | 'log' | 'config'>, spec: ReleaseSpec): Promise<ReleaseOutcome> {
  const helm = await ctx.helm();
  const [chartRef, current, userValues] = await Promise.all([
    helm.chartRef(spec.chart),
    helm.release(spec.release, spec.namespace),
    helm.values(spec.release, spec.namespace),
  ]);
  const files = await readValuesFiles(spec.valuesFiles ?? []);
  const values = mergeValues(files.reduce(mergeValues, userValues ?? {}), spec.values);
  if (current && current.status === 'deployed' && current.chart === chartRef && sameValues(userValues ?? {}, values)) {
    ctx.log.info(`  ${spec.label}: release ${spec.release} (${chartRef}, revision ${current.revision}) is up to date`);
    return 'unchanged';
  }
  await helm.upgradeInstall({
    release: spec.release,
    chart: spec.chart,
    namespace: spec.namespace,
    values,
    timeoutMs: ctx.config.waitTimeoutMs,
  });
  return current ? 'upgraded' : 'installed';
}
