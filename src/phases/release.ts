// helm upgrade --install only when something would change, so a re-run makes no new revision.
import type { Context } from '../context.js';
import { assertReleaseSettled, mergeValues, rollbackFailureFix, sameValues } from '../domain/release.js';
import { ApiUnreachableError, InterruptedError, JuneError } from '../errors.js';
import type { ReleaseInfo } from '../helm/types.js';
import { readValuesFiles } from '../helm/values-files.js';

export { readValuesFiles };

export interface ReleaseSpec {
  release: string;
  namespace: string;
  chart: string;
  /** Values june-ts sets; merged over the deployed release's user values and the values files. */
  values: Record<string, unknown>;
  /** Extra values files from config (HEADSCALE_VALUES / PLATFORM_VALUES). */
  valuesFiles?: string[];
  label: string;
  /** Replaces the wait for the release's Deployments to roll out (e.g. one that stops early on a crash loop). */
  waitReady?: (timeoutMs: number) => Promise<void>;
}

export type ReleaseOutcome = 'installed' | 'upgraded' | 'unchanged';

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
export async function applyRelease(
  ctx: ReleaseCtx,
  spec: Omit<ReleaseSpec, 'values'>,
  values: Record<string, unknown>,
  current: ReleaseInfo | null,
): Promise<void> {
  const helm = await ctx.helm();
  const timeoutMs = ctx.config.waitTimeoutMs;
  assertReleaseSettled(current, spec);
  try {
    await helm.upgradeInstall({ release: spec.release, chart: spec.chart, namespace: spec.namespace, values, timeoutMs });
    if (ctx.gate.dryRun) {
      ctx.gate.record({
        kind: 'note',
        text: `wait until the Deployments of release ${spec.release} are rolled out (on failure: ${undoPlan(ctx, current)})`,
      });
      return;
    }
    await (spec.waitReady ? spec.waitReady(timeoutMs) : waitForRelease(ctx, spec, timeoutMs));
  } catch (e) {
    return undoRelease(ctx, spec, current, e);
  }
}

function undoPlan(ctx: Pick<Context, 'gate'>, current: ReleaseInfo | null): string {
  if (ctx.gate.mode === 'static') return 'roll back to the previous revision, or uninstall if this was the first install';
  return current ? `roll back to revision ${current.revision}` : 'uninstall';
}

async function waitForRelease(
  ctx: Pick<Context, 'kube' | 'signal'>,
  spec: Pick<ReleaseSpec, 'release' | 'namespace'>,
  timeoutMs: number,
): Promise<void> {
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
    const message = (e as Error).message;
    const fix = before
      ? rollbackFailureFix(message, spec.namespace, `helm rollback ${spec.release} ${before.revision} -n ${spec.namespace}`)
      : undefined;
    undone = `rolling back release ${spec.release} failed too: ${message}${fix ? `\n  ${fix}` : ''}`;
  }
  cause.message = `${cause.message}\n  ${undone}`;
  throw cause;
}
