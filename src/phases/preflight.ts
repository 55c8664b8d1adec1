// Checks that must pass before anything is changed: charts present, helm and the cluster
// reachable. Read-only; in a static plan only the local checks can run.
import type { WorkflowRun } from '../context.js';
import { assertReleaseSettled } from '../domain/release.js';
import type { PhaseDef } from './engine.js';
import { assertServicesRun } from './platform-services.js';
import { assertHeadscaleScaledUp, assertNamespacesNotTerminating, assertTagIdentityServed } from './preflight-cluster.js';

type Chart = 'platform' | 'headscale';

export interface PreflightNeeds {
  charts: Chart[];
  /** Releases the run will upgrade, each with the phase that does it (checked only when that phase runs). */
  releases?: { chart: Chart; phase: string }[];
  /** The phase that adds sidecars to TAILSCALE_SERVICES: when it runs, each must be a service the platform release runs. */
  sidecarsPhase?: string;
  /** Namespaces the run writes into: refused while terminating. */
  namespaces?: ('platform' | 'headscale')[];
  /** The run talks to the Headscale it did not deploy itself: refused while it is scaled to zero. */
  headscaleServed?: boolean;
  /** The phase that mints the services' keys: when it runs, TAILNET_IDENTITY=tag needs a Headscale that owns keys by tag. */
  mintsKeys?: string;
}

/**
 * The first Headscale call of a run asks its version. On the exec transport that is a kubectl
 * exec of its own: asked while preflight's other reads run, it is answered by the time the
 * users phase needs it (a failure is asked again and reported there). Only with a ready pod,
 * where kubectl exec answers at once, so a failing preflight never waits for it to give up.
 */
function askHeadscaleVersion(ctx: WorkflowRun<unknown>): void {
  if (ctx.config.headscale.transport !== 'exec') return;
  void ctx
    .headscale()
    .then((hs) => hs.version())
    .catch(() => undefined);
}

export function preflightPhase(needs: PreflightNeeds): PhaseDef<WorkflowRun<unknown>> {
  return {
    id: 'preflight',
    description: needs.releases?.length
      ? 'Check charts, helm, kubectl, cluster access and that no release to upgrade is stuck mid-operation'
      : 'Check charts, helm, kubectl and cluster access before changing anything',
    run: async (ctx) => {
      const helm = await ctx.helm();
      const charts = needs.charts.map((c) => (c === 'platform' ? ctx.config.platform.chart : ctx.config.headscale.chart));
      const refs = await Promise.all(charts.map((c) => helm.chartRef(c)));
      const kube = await ctx.kube();
      // kubectl carries every Headscale call on the exec transport; a static plan needs no binaries
      const kubectl =
        ctx.config.headscale.transport === 'exec' && ctx.gate.mode !== 'static'
          ? ctx.kubectl().then((k) => k.clientVersion())
          : Promise.resolve();
      // a release stuck in pending-* would fail the upgrade after keys were minted: refuse now
      const releases = (needs.releases ?? [])
        .filter((r) => ctx.willRun(r.phase))
        .map((r) => (r.chart === 'platform' ? ctx.config.platform : ctx.config.headscale));
      const settled = Promise.all(releases.map(async (r) => assertReleaseSettled(await helm.release(r.release, r.namespace), r)));
      // after helm's version check, so an unsupported helm is reported as such, not as unreadable values
      const services =
        needs.sidecarsPhase && ctx.willRun(needs.sidecarsPhase) ? helm.major().then(() => assertServicesRun(ctx)) : Promise.resolve();
      const namespaces = (needs.namespaces ?? []).map((n) =>
        n === 'platform' ? ctx.config.platform.namespace : ctx.config.headscale.namespace,
      );
      const cluster = Promise.all([
        assertNamespacesNotTerminating(ctx, namespaces),
        needs.headscaleServed ? assertHeadscaleScaledUp(ctx).then((ready) => ready && askHeadscaleVersion(ctx)) : undefined,
        needs.mintsKeys && ctx.willRun(needs.mintsKeys) ? assertTagIdentityServed(ctx) : undefined,
      ]);
      const [server, major] = await Promise.all([kube.serverVersion(), helm.major(), kubectl, settled, services, cluster]);
      ctx.log.info(`  cluster ${server}, Helm ${major}${refs.length ? `, charts ${refs.join(', ')}` : ''}`);
    },
  };
}
