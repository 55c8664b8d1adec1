// Checks that must pass before anything is changed: charts present, helm and the cluster
// reachable. Read-only; in a static plan only the local checks can run.
import type { WorkflowRun } from '../context.js';
import { assertReleaseSettled } from '../domain/release.js';
import type { HeadscaleRead, HeadscaleVersion } from '../headscale/types.js';
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
  /** The Headscale reads the run's phases will make: started during preflight (with headscaleServed). */
  headscaleReads?: (ctx: WorkflowRun<unknown>, version: HeadscaleVersion) => Promise<HeadscaleRead[]>;
}

/**
 * A run's first Headscale calls ask its version, then read what the phases will need. Each is
 * a round trip (on the exec transport a kubectl exec of its own; over REST, Headscale checks
 * the API key on every call): started while preflight's other reads run, they are answered by
 * the time the phases ask (a failure is held and reported there). On the exec transport only
 * with a ready pod, where kubectl exec answers at once, so a failing preflight never waits for
 * it to give up.
 */
function warmHeadscale(ctx: WorkflowRun<unknown>, needs: PreflightNeeds): void {
  void ctx
    .headscale()
    .then(async (hs) => {
      const version = await hs.version();
      hs.prefetch((await needs.headscaleReads?.(ctx, version)) ?? []);
    })
    .catch(() => undefined);
}

export function preflightPhase(needs: PreflightNeeds): PhaseDef<WorkflowRun<unknown>> {
  return {
    id: 'preflight',
    description: needs.releases?.length
      ? 'Check charts, helm, kubectl, cluster access and that no release to upgrade is stuck mid-operation'
      : 'Check charts, helm, kubectl and cluster access before changing anything',
    run: async (ctx) => {
      const exec = ctx.config.headscale.transport === 'exec';
      if (needs.headscaleServed && !exec && ctx.gate.mode !== 'static') warmHeadscale(ctx, needs);
      // the Kubernetes client loads while helm answers; a chart problem is still reported first
      const kubeLoaded = ctx.kube();
      kubeLoaded.catch(() => undefined);
      const helm = await ctx.helm();
      const charts = needs.charts.map((c) => (c === 'platform' ? ctx.config.platform.chart : ctx.config.headscale.chart));
      const refs = await Promise.all(charts.map((c) => helm.chartRef(c)));
      const kube = await kubeLoaded;
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
      // judged after helm's version check, so an unsupported helm is reported as such, not as
      // unreadable values; the values (read once per run) are asked meanwhile
      const checksServices = Boolean(needs.sidecarsPhase && ctx.willRun(needs.sidecarsPhase));
      if (checksServices) void helm.values(ctx.config.platform.release, ctx.config.platform.namespace).catch(() => undefined);
      const services = checksServices ? helm.major().then(() => assertServicesRun(ctx)) : Promise.resolve();
      const namespaces = (needs.namespaces ?? []).map((n) =>
        n === 'platform' ? ctx.config.platform.namespace : ctx.config.headscale.namespace,
      );
      const cluster = Promise.all([
        assertNamespacesNotTerminating(ctx, namespaces),
        needs.headscaleServed ? assertHeadscaleScaledUp(ctx).then((ready) => ready && exec && warmHeadscale(ctx, needs)) : undefined,
        needs.mintsKeys && ctx.willRun(needs.mintsKeys) ? assertTagIdentityServed(ctx) : undefined,
      ]);
      const [server, major] = await Promise.all([kube.serverVersion(), helm.major(), kubectl, settled, services, cluster]);
      ctx.log.info(`  cluster ${server}, Helm ${major}${refs.length ? `, charts ${refs.join(', ')}` : ''}`);
    },
  };
}
