// helm upgrade --install only when something would change, so a re-run makes no new revision.
import type { Context } from '../context.js';

export interface ReleaseSpec {
  release: string;
  namespace: string;
  chart: string;
  /** Values june-ts sets; merged over the user's values of the deployed release. */
  values: Record<string, unknown>;
  /** Values to remove from the user's values before merging (e.g. on cleanup). */
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
  const values = mergeValues(userValues ?? {}, spec.values);
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
