// rotate-keys: mint → Secret → restart → wait online → only then expire the old keys
// (only keys june-ts minted). A failure before the end restores the Secret; old keys stay valid.
import type { WorkflowRun } from '../context.js';
import { readMintedRecord } from '../domain/keys.js';
import type { HsPreAuthKey } from '../headscale/types.js';
import { workloadName } from '../names.js';
import { Handoff, type PhaseDef } from './engine.js';
import { expireKeys } from './keys.js';
import { ensureUsersPhase, resolveKeysPhase, sidecarsData, waitForSidecars, writeSecretPhase, type SidecarsData } from './sidecars.js';

export const ROTATE_ID = 'rotate';

export interface RotateData extends SidecarsData {
  /** The keys june-ts minted before this rotation (to expire once the new ones are online). */
  readonly oldKeys: Handoff<HsPreAuthKey[]>;
}

export function rotateData(services: readonly string[]): RotateData {
  return { ...sidecarsData(services), oldKeys: new Handoff('the keys before the rotation') };
}

type RotateRun = WorkflowRun<RotateData>;

async function mintPhase(ctx: RotateRun): Promise<void> {
  await ensureUsersPhase(ctx);
  const hs = await ctx.headscale();
  const kube = await ctx.kube();
  const secret = await kube.getSecret(ctx.config.platform.namespace, ctx.config.authSecretName);
  const minted = readMintedRecord(secret?.annotations);
  const known = await hs.listPreAuthKeys([...ctx.data.users.get().values()]);
  ctx.data.oldKeys.set(
    ctx.data.services
      .map((s) => minted[s])
      .filter((id): id is string => Boolean(id))
      .map((id) => known.find((k) => k.id === id))
      .filter((k): k is HsPreAuthKey => Boolean(k)),
  );
  await resolveKeysPhase(ctx, true);
}

async function restartPhase(ctx: RotateRun): Promise<void> {
  const kube = await ctx.kube();
  const ns = ctx.config.platform.namespace;
  const services = ctx.data.services;
  const deployments = await Promise.all(services.map((s) => kube.getDeployment(ns, workloadName(s))));
  await Promise.all(services.filter((_, i) => deployments[i] || ctx.gate.dryRun).map((s) => kube.restartDeployment(ns, workloadName(s))));
}

async function expireOldPhase(ctx: RotateRun): Promise<void> {
  const hs = await ctx.headscale();
  const fresh = new Set([...ctx.data.keys.get().values()].map((k) => k.keyId));
  const old = ctx.data.oldKeys.get().filter((k) => !fresh.has(k.id) && (!k.expiration || k.expiration > new Date()));
  if (!old.length) {
    ctx.log.info('  no earlier keys minted by june-ts to expire');
    return;
  }
  const failed = await expireKeys(hs, old);
  for (const f of failed) {
    ctx.log.warn(`old key ${f.key.id} of ${f.key.user} not expired: ${f.error.message} — it stays valid until ${f.key.expiration?.toISOString() ?? 'its expiry'}`);
  }
  if (failed.length < old.length) ctx.log.info(`  expired ${old.length - failed.length} old key(s)`);
}

/**
 * A rotation that fails after new keys were minted puts the Secret back as it was, so the
 * running sidecars and the old keys stay valid; a re-run starts over.
 */
async function restoreSecret(ctx: RotateRun, error: unknown): Promise<void> {
  const wrote = [...(ctx.data.keys.peek()?.values() ?? [])].some((k) => k.minted);
  const previous = ctx.data.previousSecret.peek();
  if (!wrote || ctx.gate.dryRun || previous === undefined) return;
  const kube = await ctx.kube();
  try {
    await kube.restoreSecret(ctx.config.platform.namespace, ctx.config.authSecretName, previous);
    ctx.log.warn(`rotation failed (${(error as Error).message.split('\n')[0]}); the Secret was restored and the old keys stay valid. Fix the cause and re-run \`june-ts rotate-keys\`.`);
  } catch (e) {
    ctx.log.error(`rotation failed and the Secret could not be restored: ${(e as Error).message}`);
  }
}

export const rotatePhases: PhaseDef<RotateRun> = {
  id: ROTATE_ID,
  description: 'Rotate the sidecars\' pre-auth keys without downtime',
  onFailure: restoreSecret,
  children: [
    { id: 'mint', description: 'Mint a new reusable key per service (old keys stay valid)', run: mintPhase },
    { id: 'secret', description: 'Write the new keys to the auth Secret', requires: [`${ROTATE_ID}/mint`], run: writeSecretPhase },
    { id: 'restart', description: 'Restart the Deployments that carry sidecars', run: restartPhase },
    {
      id: 'wait',
      description: 'Wait until every sidecar is Ready and its node online',
      run: async (ctx) => {
        await waitForSidecars(ctx, ctx.data.services);
      },
    },
    { id: 'expire-old', description: 'Expire the previous keys june-ts minted', requires: [`${ROTATE_ID}/wait`, `${ROTATE_ID}/mint`], run: expireOldPhase },
  ],
};
