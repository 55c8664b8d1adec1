// Phase 11: deploy the Headscale server (helm/headscale) and check that it answers.
import type { Context } from '../context.js';
import { formatVersion } from '../headscale/types.js';
import type { PhaseDef } from './engine.js';
import { ensureRelease } from './release.js';

export function headscaleValues(ctx: Pick<Context, 'config'>): Record<string, unknown> {
  const { headscale, tailnetDomain } = ctx.config;
  return {
    headscale: {
      ...(headscale.domain ? { domain: headscale.domain } : {}),
      serverUrl: headscale.url,
      dns: { baseDomain: tailnetDomain },
    },
  };
}

export const HEADSCALE_ID = '11-headscale';

export const headscaleServerPhase: PhaseDef<Context> = {
  id: HEADSCALE_ID,
  description: 'Deploy the Headscale server',
  children: [
    {
      id: 'deploy',
      description: 'helm upgrade --install the Headscale chart and wait for the rollout',
      run: async (ctx) => {
        const outcome = await ensureRelease(ctx, {
          label: 'Headscale',
          release: ctx.config.headscale.release,
          namespace: ctx.config.headscale.namespace,
          chart: ctx.config.headscale.chart,
          valuesFiles: ctx.config.headscale.valuesFiles,
          values: headscaleValues(ctx),
        });
        if (outcome !== 'unchanged') ctx.log.info(`  Headscale release ${ctx.config.headscale.release} ${outcome}`);
      },
    },
    {
      id: 'health',
      description: 'Check that Headscale answers and which version it runs',
      run: async (ctx) => {
        const hs = await ctx.headscale();
        await hs.health();
        const version = await hs.version();
        ctx.log.info(`  Headscale ${formatVersion(version)} is healthy`);
      },
    },
  ],
};
