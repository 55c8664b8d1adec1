// One mutating run per cluster at a time: a Lease held (and renewed) for the run's length.
import type { Context } from '../context.js';
import { runLockHolder } from '../kube/lock-holder.js';

/** Namespace and name of the Lease that keeps two june-ts runs off one cluster at once. */
export const RUN_LOCK = { namespace: 'default', name: 'june-ts-lock', seconds: 60 };

/** Takes the run lock (released on exit); also the run's first contact with the API server. */
export async function takeRunLock(ctx: Context): Promise<void> {
  // Start `helm version` (memoized; preflight reads it) while client-node loads. Its
  // failure is reported by preflight, not here.
  void ctx
    .helm()
    .then((h) => h.major())
    .catch(() => undefined);
  const kube = await ctx.kube();
  await kube.serverVersion(); // a clear "cannot reach the API server" before anything else
  const holder = runLockHolder(ctx.command);
  const release = await kube.acquireLease(RUN_LOCK.namespace, RUN_LOCK.name, holder, RUN_LOCK.seconds);
  ctx.onExit(release);
}
