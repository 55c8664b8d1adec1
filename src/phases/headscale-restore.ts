// `june-ts restore <backup>`: Headscale back to a backup phase 11 took: the server stops, the
// backup's database and keys go back on its volume, the version that wrote them is deployed
// again and must serve. The explicit way down that phase 11 refuses to take by itself.
import type { WorkflowRun } from '../context.js';
import { UsageError } from '../errors.js';
import { HEADSCALE_DEPLOYMENT } from '../names.js';
import { Handoff, type PhaseDef } from './engine.js';
import { headscaleVolume, restoreFiles, type Backup, type HeadscaleVolume } from './headscale-backup.js';
import { checkServes, deploySpec, stopHeadscale } from './headscale-release.js';
import { ensureRelease } from './release.js';

export const RESTORE_ID = 'restore-headscale';

export interface RestoreData {
  readonly backup: Backup;
  /** The files come from the operator's copy (else from the volume's own backups directory). */
  readonly fromLocal: boolean;
  readonly volume: Handoff<HeadscaleVolume | undefined>;
}

type RestoreRun = WorkflowRun<RestoreData>;

export const restorePhases: PhaseDef<RestoreRun> = {
  id: RESTORE_ID,
  description: 'Restore Headscale from a backup phase 11 took',
  children: [
    {
      id: 'stop',
      description: "Deploy the backup's version with 0 pods, so that nothing holds the database",
      run: async (ctx) => {
        const kube = await ctx.kube();
        const template = await kube.getPodTemplate(ctx.config.headscale.namespace, HEADSCALE_DEPLOYMENT);
        if (!template && !ctx.gate.dryRun) {
          throw new UsageError(`no Headscale Deployment in namespace ${ctx.config.headscale.namespace} to restore into`, {
            hint: `deploy Headscale ${ctx.data.backup.record.version} first (HEADSCALE_VERSION=${ctx.data.backup.record.version} june-ts install --only 11-headscale), then restore`,
          });
        }
        const volume = template ? headscaleVolume(template) : { claim: "<the chart's claim>", template: { containers: [] } };
        if (!volume) {
          throw new UsageError('the Headscale Deployment keeps no volume (persistence.enabled=false): there is nothing to restore into', {
            hint: 'enable persistence in the Headscale chart values, then restore',
          });
        }
        ctx.data.volume.set(volume);
        ctx.log.info(
          `  restoring ${ctx.data.backup.name} (Headscale ${ctx.data.backup.record.version}, taken ${ctx.data.backup.record.takenAt})`,
        );
        // the version that wrote the backup, with no pod: a newer one must not start on the older database
        await stopHeadscale(ctx, ctx.data.backup.record.version);
      },
    },
    {
      id: 'files',
      description: "Put the backup's database and keys back on the volume (the WAL removed)",
      requires: [`${RESTORE_ID}/stop`],
      run: async (ctx) => {
        await restoreFiles(ctx, ctx.data.volume.get()!, ctx.data.backup, ctx.data.fromLocal);
      },
    },
    {
      id: 'start',
      description: 'Deploy the version that wrote the backup and wait until it serves',
      requires: [`${RESTORE_ID}/files`],
      run: async (ctx) => {
        const version = ctx.data.backup.record.version;
        await ensureRelease(ctx, deploySpec(ctx, version));
        if (ctx.gate.dryRun) return;
        await checkServes(ctx, version);
        const hs = await ctx.headscale();
        const users = await hs.listUsers();
        const [nodes, keys] = await Promise.all([hs.listNodes(), hs.listPreAuthKeys(users)]);
        ctx.log.info(
          `  Headscale ${version} serves the backup: ${users.length} users, ${nodes.length} nodes, ${keys.length} pre-auth keys`,
        );
      },
    },
  ],
};
