// Preflight's checks of objects june-ts expects on the cluster but did not make sure of
// itself: a namespace it will write into that is being deleted, a Headscale Deployment
// scaled to zero, and a Headscale too old for TAILNET_IDENTITY=tag. Each would otherwise
// fail after users and keys were made.
import type { Context } from '../context.js';
import { assertIdentitySupported } from '../domain/identity.js';
import { PreflightError } from '../errors.js';
import { HEADSCALE_DEPLOYMENT } from '../names.js';

type ClusterCtx = Pick<Context, 'kube' | 'gate'>;

/** Throws PreflightError (exit 2) for the first namespace in `namespaces` that is terminating. */
export async function assertNamespacesNotTerminating(ctx: ClusterCtx, namespaces: readonly string[]): Promise<void> {
  if (ctx.gate.mode === 'static') return;
  const kube = await ctx.kube();
  const unique = [...new Set(namespaces)];
  const deleted = await Promise.all(unique.map((ns) => kube.namespaceDeletedAt(ns)));
  for (const [i, ns] of unique.entries()) {
    const deletedAt = deleted[i];
    if (deletedAt) {
      throw new PreflightError(`namespace ${ns} is terminating (deleted at ${deletedAt}): nothing can be created in it`, {
        hint: `wait until it is gone (kubectl get namespace ${ns}); if it stays, see what holds it (kubectl get namespace ${ns} -o jsonpath='{.status.conditions}'), then re-run`,
      });
    }
  }
}

/**
 * Throws PreflightError (exit 2) when the in-cluster Headscale Deployment is scaled to zero;
 * otherwise says whether one of its pods is ready to answer.
 */
export async function assertHeadscaleScaledUp(ctx: ClusterCtx & Pick<Context, 'config'>): Promise<boolean> {
  if (ctx.gate.mode === 'static') return false;
  const ns = ctx.config.headscale.namespace;
  const deployment = await (await ctx.kube()).getDeployment(ns, HEADSCALE_DEPLOYMENT);
  if (deployment && deployment.replicas === 0) {
    throw new PreflightError(`Deployment ${ns}/${HEADSCALE_DEPLOYMENT} has 0 replicas: Headscale is scaled to zero and cannot answer`, {
      hint: `kubectl -n ${ns} scale deployment ${HEADSCALE_DEPLOYMENT} --replicas=1 (or run june-ts install), then re-run`,
    });
  }
  return (deployment?.readyReplicas ?? 0) > 0;
}

/**
 * Throws PreflightError (exit 2) when TAILNET_IDENTITY=tag meets a Headscale that cannot own
 * keys by tag. Asked only of a Headscale that already runs: on a first install phase 11
 * deploys it, and 11.2 asks again before its first write.
 */
export async function assertTagIdentityServed(ctx: ClusterCtx & Pick<Context, 'config' | 'headscale'>): Promise<void> {
  if (ctx.config.tailnetIdentity !== 'tag') return;
  if (ctx.config.headscale.transport === 'exec' && ctx.gate.mode !== 'static') {
    const deployment = await (await ctx.kube()).getDeployment(ctx.config.headscale.namespace, HEADSCALE_DEPLOYMENT);
    if (!deployment || deployment.replicas === 0) return;
  }
  const hs = await ctx.headscale();
  assertIdentitySupported(ctx.config, await hs.tagOwnedKeys(), await hs.version());
}
