// Checks that must pass before anything is changed: charts present, helm and the cluster
// reachable. Read-only; in a static plan only the local checks can run.
import type { Context } from '../context.js';
import type { PhaseDef } from './workflow.js';

export interface PreflightNeeds {
  charts: ('platform' | 'headscale')[];
}

export function preflightPhase(needs: PreflightNeeds): PhaseDef<Context> {
  return {
    id: 'preflight',
    description: 'Check charts, helm, kubectl and cluster access before changing anything',
    run: async (ctx) => {
      const helm = await ctx.helm();
      const charts = needs.charts.map((c) => (c === 'platform' ? ctx.config.platform.chart : ctx.config.headscale.chart));
      const refs = await Promise.all(charts.map((c) => helm.chartRef(c)));
      const kube = await ctx.kube();
      // kubectl carries every Headscale call on the exec transport; a static plan needs no binaries
      const kubectl = ctx.config.headscale.transport === 'exec' && ctx.gate.mode !== 'static'
        ? ctx.runner.run(ctx.config.kube.kubectl, ['version', '--client', '-o', 'json'])
        : Promise.resolve();
      const [server, major] = await Promise.all([kube.serverVersion(), helm.major(), kubectl]);
      ctx.log.info(`  cluster ${server}, Helm ${major}${refs.length ? `, charts ${refs.join(', ')}` : ''}`);
    },
  };
}
