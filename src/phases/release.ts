// helm upgrade --install only when something would change, so a re-run makes no new revision.
import type { Context } from '../context.js';
import { PreflightError } from '../errors.js';
import type { ReleaseInfo } from '../helm/helm.js';

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
export async function ensureRelease(ctx: ReleaseCtx, spec: ReleaseSpec): Promise<ReleaseOutcome> {
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
  await applyRelease(ctx, spec, values, current);
  return current ? 'upgraded' : 'installed';
}

type ReleaseCtx = Pick<Context, 'helm' | 'kube' | 'log' | 'config' | 'gate' | 'signal'>;

/**
 * helm upgrade --install, then a bounded wait until every Deployment of the release has
 * rolled out; on any failure the release goes back to `current` (see undoRelease).
 */
export async function applyRelease(ctx: ReleaseCtx, spec: Omit<ReleaseSpec, 'values'>, values: Record<string, unknown>, current: ReleaseInfo | null): Promise<void> {
  const helm = await ctx.helm();
  const timeoutMs = ctx.config.waitTimeoutMs;
  assertReleaseSettled(current, spec);
  try {
    await helm.upgradeInstall({ release: spec.release, chart: spec.chart, namespace: spec.namespace, values, timeoutMs });
    if (ctx.gate.dryRun) {
      ctx.gate.record({ kind: 'note', text: `wait until the Deployments of release ${spec.release} are rolled out (on failure: ${undoPlan(ctx, current)})` });
      return;
    }
    await waitForRelease(ctx, spec, timeoutMs);
  } catch (e) {
    return undoRelease(ctx, spec, current, e);
  }
}

/**
 * A release whose last revision is pending-install/-upgrade/-rollback: a Helm operation on it
 * was killed mid-way (or is running right now). Helm refuses every upgrade then ("another
 * operation is in progress"), and only a human can tell which of the two it is, so june-ts
 * stops before changing anything and names the command that puts the release back.
 */
export function stuckRelease(info: ReleaseInfo | null, spec: Pick<ReleaseSpec, 'release' | 'namespace'>): PreflightError | undefined {
  if (!info?.status.startsWith('pending-')) return undefined;
  const ns = `-n ${spec.namespace}`;
  const fix = info.status === 'pending-install'
    ? `\`helm uninstall ${spec.release} ${ns}\` (its first install never finished)`
    : `\`helm rollback ${spec.release} ${ns}\` (back to the revision before ${info.revision}; see \`helm history ${spec.release} ${ns}\`)`;
  return new PreflightError(
    `release ${spec.release} in ${spec.namespace} is ${info.status} (revision ${info.revision}): a Helm operation on it was interrupted, or is still running`,
    { hint: `if no helm command is working on it, run ${fix}, then re-run june-ts` },
  );
}

/** Throws stuckRelease's error, if any. */
export function assertReleaseSettled(info: ReleaseInfo | null, spec: Pick<ReleaseSpec, 'release' | 'namespace'>): void {
  const stuck = stuckRelease(info, spec);
  if (stuck) throw stuck;
}

function undoPlan(ctx: Pick<Context, 'gate'>, current: ReleaseInfo | null): string {
  if (ctx.gate.mode === 'static') return 'roll back to the previous revision, or uninstall if this was the first install';
  return current ? `roll back to revision ${current.revision}` : 'uninstall';
}

async function waitForRelease(ctx: Pick<Context, 'kube' | 'signal'>, spec: Pick<ReleaseSpec, 'release' | 'namespace'>, timeoutMs: number): Promise<void> {
  const kube = await ctx.kube();
  const names = await kube.listDeployments(spec.namespace, `app.kubernetes.io/instance=${spec.release}`);
  await kube.waitForRollout(spec.namespace, names, timeoutMs, ctx.signal);
}

/**
 * Bound on undoing a failed release (the rollback and its rollout), independent of
 * WAIT_TIMEOUT: a short WAIT_TIMEOUT that just expired must not also cut the rollback short.
 */
const ROLLBACK_TIMEOUT_MS = 120_000;

/**
 * What `--atomic` / `--rollback-on-failure` did, with june-ts's own wait: back to the last
 * deployed revision (or uninstalled when this was the first install), then the original
 * failure is rethrown with what was undone appended.
 */
async function undoRelease(
  ctx: Pick<Context, 'helm' | 'kube' | 'log' | 'signal'>,
  spec: Pick<ReleaseSpec, 'release' | 'namespace' | 'label'>,
  before: ReleaseInfo | null,
  cause: unknown,
): Promise<never> {
  const { ApiUnreachableError, JuneError, InterruptedError } = await import('../errors.js');
  // Interrupted, or the API server went away while we watched: nothing says the release is
  // bad, and a rollback could not reach the cluster either. A re-run finds the release
  // up to date and waits for it.
  if (cause instanceof InterruptedError || cause instanceof ApiUnreachableError || !(cause instanceof JuneError)) throw cause;
  const helm = await ctx.helm();
  // Helm failed before recording a revision (render error, schema, unreachable cluster):
  // nothing was applied, so there is nothing to undo, and a rollback would add a revision.
  const after = await helm.release(spec.release, spec.namespace).catch(() => undefined);
  if (after !== undefined && (after?.revision ?? 0) === (before?.revision ?? 0)) throw cause;
  const timeoutMs = ROLLBACK_TIMEOUT_MS;
  let undone: string;
  try {
    if (before?.status === 'deployed') {
      ctx.log.warn(`${spec.label}: rolling release ${spec.release} back to revision ${before.revision}`);
      await helm.rollback(spec.release, spec.namespace, before.revision, timeoutMs);
      await waitForRelease(ctx, spec, timeoutMs);
      undone = `release ${spec.release} rolled back to revision ${before.revision}`;
    } else if (!before) {
      ctx.log.warn(`${spec.label}: uninstalling the failed first install of ${spec.release}`);
      await helm.uninstall(spec.release, spec.namespace, timeoutMs);
      undone = `the failed first install of ${spec.release} was uninstalled`;
    } else {
      undone = `release ${spec.release} left as is (its previous revision ${before.revision} was ${before.status}, nothing to roll back to)`;
    }
  } catch (e) {
    undone = `rolling back release ${spec.release} failed too: ${(e as Error).message}`;
  }
  cause.message = `${cause.message}\n  ${undone}`;
  throw cause;
}
