// Phase 11: deploy the Headscale server (helm/headscale) and check that it answers. A running
// older server is upgraded one minor at a time (domain/headscale-upgrade.ts): a backup, the
// step's version, a wait until it serves, a check that it kept users, nodes and keys; a step
// that fails puts the previous version back on its backup. The release itself, its waits and
// the check that the server answers: ./headscale-release.ts.
import type { WorkflowRun } from '../context.js';
import { checkStep, lostData, planUpgrade, runningVersion, type TailnetSnapshot } from '../domain/headscale-upgrade.js';
import { judgeKey } from '../domain/keys.js';
import { ApiUnreachableError, ExternalError, InterruptedError } from '../errors.js';
import { formatVersion } from '../headscale/types.js';
import type { PodTemplateSpec } from '../kube/types.js';
import { HEADSCALE_CONTAINER, HEADSCALE_DEPLOYMENT, authKeyEntry, headscaleUser } from '../names.js';
import type { PhaseDef } from './engine.js';
import { headscaleVolume, restoreFiles, takeBackup, type Backup, type HeadscaleVolume } from './headscale-backup.js';
import { POLL_MS, checkServes, deploySpec, stopHeadscale, targetVersion } from './headscale-release.js';
import { ensureRelease } from './release.js';

export const HEADSCALE_ID = '11-headscale';

/** What phase 11 reads besides the config. */
export interface HeadscaleServerData {
  /** Where backups are copied on this machine (absolute). */
  readonly backupDir: string;
}

type ServerRun = WorkflowRun<HeadscaleServerData>;

/** How long nodes that were online may take to come back after a step. */
const NODES_BACK_MS = 90_000;

interface Deployed {
  template: PodTemplateSpec;
  running: ReturnType<typeof runningVersion>;
}

/** The deployed Headscale and the version it runs (asked of the server, else read from its image tag); undefined: none. */
async function readDeployed(ctx: ServerRun): Promise<Deployed | undefined> {
  const kube = await ctx.kube();
  const template = await kube.getPodTemplate(ctx.config.headscale.namespace, HEADSCALE_DEPLOYMENT);
  if (!template) return undefined;
  const image = template.containers.find((c) => c.name === HEADSCALE_CONTAINER)?.image;
  const hs = await ctx.headscale();
  const reported = await hs.version().catch(() => undefined);
  return { template, running: runningVersion(reported, image) };
}

async function snapshot(ctx: ServerRun): Promise<TailnetSnapshot> {
  const hs = await ctx.headscale();
  const users = await hs.listUsers();
  const [nodes, keys] = await Promise.all([hs.listNodes(), hs.listPreAuthKeys(users)]);
  return { users, nodes, keys };
}

/** Services whose key in the auth Secret Headscale accepts. */
async function acceptedKeys(ctx: ServerRun, s: TailnetSnapshot): Promise<Set<string>> {
  const kube = await ctx.kube();
  const secret = await kube.getSecret(ctx.config.platform.namespace, ctx.config.authSecretName);
  const now = new Date();
  return new Set(
    ctx.config.services.filter((svc) => {
      const user = s.users.find((u) => u.name === headscaleUser(svc));
      const value = secret?.data[authKeyEntry(svc)];
      return user && value && judgeKey(value, user, s.keys, now, 0).keep;
    }),
  );
}

/** Waits until every node online before is online again (bounded); returns what is then there. */
async function nodesBack(ctx: ServerRun, before: TailnetSnapshot): Promise<TailnetSnapshot> {
  const deadline = Date.now() + Math.min(ctx.config.waitTimeoutMs, NODES_BACK_MS);
  for (;;) {
    const after = await snapshot(ctx);
    if (!checkStep(before, after).offline.length || Date.now() > deadline || ctx.signal.aborted) return after;
    await new Promise((r) => setTimeout(r, POLL_MS * 2));
  }
}

const continueHint = (from: string, target: string) =>
  `fix the cause, then run phase 11 again (june-ts install --only ${HEADSCALE_ID}): it continues from ${from} to ${target}. To stay on ${from}, set HEADSCALE_VERSION=${from}`;

/**
 * A step failed: Headscale stops, the step's backup goes back on the volume, the previous
 * version is deployed again on it. Returns the error to throw, saying what now runs.
 */
async function stepFailed(
  ctx: ServerRun,
  step: { label: string; from: string; target: string },
  volume: HeadscaleVolume | undefined,
  backup: Backup | undefined,
  cause: unknown,
): Promise<ExternalError> {
  const message = cause instanceof Error ? cause.message : String(cause);
  let state: string;
  if (!volume || !backup) {
    state = `no backup to restore (no volume: persistence.enabled=false); the release was rolled back to ${step.from}`;
  } else {
    ctx.log.warn(`${step.label} failed; restoring Headscale ${step.from} from backup ${backup.name}`);
    try {
      await stopHeadscale(ctx, step.from);
      await restoreFiles(ctx, volume, backup, false);
      await ensureRelease(ctx, deploySpec(ctx, step.from));
      await checkServes(ctx, step.from);
      state = `Headscale ${step.from} runs again on backup ${backup.name} (the database as it was before the step; copy in ${backup.localDir})`;
    } catch (e) {
      state = `restoring backup ${backup.name} failed too: ${(e as Error).message}\n  restore it by hand: june-ts restore ${backup.localDir}`;
    }
  }
  return new ExternalError(`${step.label} failed: ${message}\n  ${state}`, {}, { hint: continueHint(step.from, step.target), cause });
}

async function upgrade(ctx: ServerRun, from: string, steps: string[], template: PodTemplateSpec): Promise<void> {
  const target = steps[steps.length - 1]!;
  const volume = headscaleVolume(template);
  ctx.log.info(`  Headscale ${from} → ${target}: ${steps.length} step(s), ${steps.join(' → ')}, each after a backup`);
  if (!volume) {
    ctx.log.warn('  the Headscale chart keeps no volume (persistence.enabled=false): no backups; a failed step is only rolled back');
  }
  for (const [i, version] of steps.entries()) {
    const label = `step ${i + 1}/${steps.length} (Headscale ${from} → ${version})`;
    const before = ctx.gate.dryRun ? undefined : await snapshot(ctx);
    const keysBefore = before ? await acceptedKeys(ctx, before) : new Set<string>();
    const backup = volume ? await takeBackup(ctx, volume, from, ctx.data.backupDir) : undefined;
    if (backup && !ctx.gate.dryRun) {
      ctx.log.info(
        `  ${label}: backup ${backup.name} taken (${backup.record.volumePath} on claim ${volume!.claim}; copy: ${backup.localDir})`,
      );
    }
    const started = Date.now();
    try {
      await ensureRelease(ctx, deploySpec(ctx, version));
      if (!ctx.gate.dryRun) await checkServes(ctx, version);
    } catch (e) {
      if (e instanceof InterruptedError || e instanceof ApiUnreachableError) throw e;
      throw await stepFailed(ctx, { label, from, target }, volume, backup, e);
    }
    if (!before) {
      ctx.gate.record({
        kind: 'note',
        text: `${label}: wait until Headscale ${version} serves and the nodes online before are online again; users, nodes and keys must be kept (a failure restores ${from} from the backup)`,
      });
      from = version;
      continue;
    }
    const after = await nodesBack(ctx, before);
    const check = checkStep(before, after);
    const keysAfter = await acceptedKeys(ctx, after);
    const rejected = [...keysBefore].filter((s) => !keysAfter.has(s));
    const lost = [...lostData(check), ...(rejected.length ? [`keys in the auth Secret no longer accepted: ${rejected.join(', ')}`] : [])];
    if (lost.length)
      throw await stepFailed(
        ctx,
        { label, from, target },
        volume,
        backup,
        new ExternalError(`Headscale ${version} lost data: ${lost.join('; ')}`),
      );
    for (const r of check.renamed)
      ctx.log.warn(`  MagicDNS name changed (node ${r.id}): ${r.from}.${ctx.config.tailnetDomain} → ${r.to}.${ctx.config.tailnetDomain}`);
    const online = before.nodes.filter((n) => n.online).length;
    ctx.log.info(
      `  ${label}: Headscale ${version} serves after ${((Date.now() - started) / 1000).toFixed(1)}s; ${online - check.offline.length}/${online} nodes back online, ${after.users.length} users, ${after.keys.length} keys kept`,
    );
    if (check.offline.length) {
      throw new ExternalError(
        `after ${label}: nodes that were online are still offline: ${check.offline.join(', ')}`,
        {},
        {
          hint: `Headscale ${version} runs and kept its data; see why those nodes do not reconnect (kubectl logs … -c tailscale). ${continueHint(version, target)}`,
        },
      );
    }
    from = version;
  }
}

export const headscaleServerPhase: PhaseDef<ServerRun> = {
  id: HEADSCALE_ID,
  description: 'Deploy the Headscale server',
  children: [
    {
      id: 'deploy',
      description:
        'helm upgrade --install the Headscale chart and wait for the rollout; an older server is upgraded one minor at a time, each step after a backup',
      run: async (ctx) => {
        const target = await targetVersion(ctx);
        const deployed = await readDeployed(ctx);
        const running = deployed?.running;
        if (deployed && !running && target) {
          ctx.log.warn(
            `  cannot tell which Headscale version runs (no version from the server, image tag not a version): deploying ${target} without stepping`,
          );
        }
        const plan = target && running ? planUpgrade(running.version, target) : undefined;
        if (plan?.kind === 'upgrade') {
          await upgrade(ctx, plan.from, plan.steps, deployed!.template);
          return;
        }
        const outcome = await ensureRelease(ctx, deploySpec(ctx, target));
        if (outcome !== 'unchanged')
          ctx.log.info(`  Headscale release ${ctx.config.headscale.release} ${outcome}${target ? ` (Headscale ${target})` : ''}`);
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
