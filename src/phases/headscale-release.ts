// The Headscale release (helm/headscale) and its checks, for phase 11 and restore: the values
// june-ts sets, the version to deploy, the waits until it has rolled out or stopped, and the
// check that the server answers as that version.
import type { Context } from '../context.js';
import { plainVersion } from '../domain/headscale-upgrade.js';
import { isObject } from '../domain/release.js';
import { ExternalError, InterruptedError } from '../errors.js';
import { HEADSCALE_DEFAULT_VERSION, formatVersion, parseVersionString } from '../headscale/types.js';
import { rolledOut } from '../kube/rollout.js';
import { HEADSCALE_CONTAINER, HEADSCALE_DEPLOYMENT } from '../names.js';
import { headscaleLogTail, headscaleSelector } from './headscale-backup.js';
import { ensureRelease, readValuesFiles } from './release.js';

type ReleaseRun = Pick<Context, 'config' | 'kube' | 'signal'>;

/** How long a freshly rolled-out server may take to answer june-ts. */
const SERVES_MS = 30_000;
export const POLL_MS = 500;

export function headscaleValues(ctx: Pick<Context, 'config'>, imageTag?: string, stopped = false): Record<string, unknown> {
  const { headscale, tailnetDomain } = ctx.config;
  return {
    ...(imageTag ? { image: { tag: imageTag } } : {}),
    // always written: a run interrupted while Headscale was stopped must not leave it at 0 pods
    stopped,
    headscale: {
      ...(headscale.domain ? { domain: headscale.domain } : {}),
      serverUrl: headscale.url,
      dns: { baseDomain: tailnetDomain },
    },
  };
}

/**
 * The version to deploy: HEADSCALE_VERSION, else image.tag of the values files, else the
 * chart's. undefined when the values files pin a tag that is no version (a digest, a custom
 * build): then nothing is planned and that tag is deployed as it is.
 */
export async function targetVersion(ctx: Pick<Context, 'config'>): Promise<string | undefined> {
  if (ctx.config.headscale.version) return ctx.config.headscale.version;
  let tag: unknown;
  for (const values of await readValuesFiles(ctx.config.headscale.valuesFiles)) {
    const image = values.image;
    if (isObject(image) && image.tag !== undefined) tag = image.tag;
  }
  if (tag === undefined) return HEADSCALE_DEFAULT_VERSION;
  const v = parseVersionString(String(tag));
  return v ? plainVersion(v) : undefined;
}

/** The Headscale release at `version`; `stopped`: with 0 pods (the wait is then until none is left). */
export function deploySpec(ctx: ReleaseRun, version: string | undefined, stopped = false) {
  return {
    label: 'Headscale',
    release: ctx.config.headscale.release,
    namespace: ctx.config.headscale.namespace,
    chart: ctx.config.headscale.chart,
    valuesFiles: ctx.config.headscale.valuesFiles,
    values: headscaleValues(ctx, version, stopped),
    waitReady: (timeoutMs: number) => (stopped ? waitHeadscaleGone(ctx, timeoutMs) : waitHeadscaleReady(ctx, timeoutMs)),
  };
}

const selectorOf = (ctx: Pick<Context, 'config'>) =>
  Object.entries(headscaleSelector(ctx))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** Until no Headscale pod is left (nothing holds the database). */
async function waitHeadscaleGone(ctx: Pick<Context, 'config' | 'kube' | 'signal'>, timeoutMs: number): Promise<void> {
  const kube = await ctx.kube();
  const ns = ctx.config.headscale.namespace;
  const deadline = Date.now() + timeoutMs;
  while ((await kube.listPods(ns, selectorOf(ctx))).length) {
    if (ctx.signal.aborted) throw new InterruptedError();
    if (Date.now() > deadline)
      throw new ExternalError(`Headscale pods in ${ns} still exist after scaling to 0`, {}, { hint: `kubectl -n ${ns} get pods` });
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Headscale at `version` with 0 pods: nothing holds its database. */
export async function stopHeadscale(ctx: ReleaseRun & Pick<Context, 'helm' | 'log' | 'gate'>, version: string): Promise<void> {
  await ensureRelease(ctx, deploySpec(ctx, version, true));
}

/**
 * Until the Headscale Deployment has rolled out; stops at once when its pod crash-loops (a
 * config or database the version refuses), quoting the pod's log.
 */
export async function waitHeadscaleReady(ctx: Pick<Context, 'config' | 'kube' | 'signal'>, timeoutMs: number): Promise<void> {
  const kube = await ctx.kube();
  const ns = ctx.config.headscale.namespace;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (rolledOut(await kube.getDeployment(ns, HEADSCALE_DEPLOYMENT))) return;
    for (const pod of await kube.listPods(ns, selectorOf(ctx))) {
      if (pod.deletionTimestamp) continue;
      const c = pod.containers.find((x) => x.name === HEADSCALE_CONTAINER);
      const crashing = c && (c.restartCount >= 2 || (c.restartCount >= 1 && c.waitingReason === 'CrashLoopBackOff'));
      if (crashing || (c?.waitingReason && /Err|Invalid/.test(c.waitingReason))) {
        throw new ExternalError(
          `Headscale pod ${ns}/${pod.name} does not start (${c.waitingReason ?? `restarted ${c.restartCount} times`})${await headscaleLogTail(ctx, pod.name)}`,
        );
      }
    }
    if (ctx.signal.aborted) throw new InterruptedError();
    if (Date.now() > deadline) {
      throw new ExternalError(`Headscale not rolled out after ${Math.round(timeoutMs / 1000)}s`, {}, { hint: `kubectl -n ${ns} get pods` });
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The server answers june-ts, as `version` when it says its version. */
export async function checkServes(ctx: Pick<Context, 'headscale'>, version: string): Promise<void> {
  const hs = await ctx.headscale();
  const deadline = Date.now() + SERVES_MS;
  for (;;) {
    hs.forgetVersion();
    try {
      await hs.health();
      const v = await hs.version();
      if (v.source === 'reported' && plainVersion(v) !== version) {
        throw new ExternalError(`Headscale answers as ${formatVersion(v)}, not ${version}`);
      }
      return;
    } catch (e) {
      if (Date.now() > deadline || e instanceof InterruptedError) throw e;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
