// rotate-keys: mint → Secret → restart → wait online → only then expire the old keys
// (only keys june-ts minted). A failure before the end restores the Secret; old keys stay valid.
import { targetServices, type Context } from '../context.js';
import type { HsPreAuthKey } from '../headscale/types.js';
import { workloadName } from '../names.js';
import { expireKeys, readMintedRecord } from './keys.js';
import { ensureUsersPhase, resolveKeysPhase, waitForSidecars, writeSecretPhase } from './sidecars.js';
import type { PhaseDef } from './workflow.js';

export const ROTATE_ID = 'rotate';

async function mintPhase(ctx: Context): Promise<void> {
  await ensureUsersPhase(ctx);
  const hs = await ctx.headscale();
  const kube = await ctx.kube();
  const secret = await kube.getSecret(ctx.config.platform.namespace, ctx.config.authSecretName);
  const minted = readMintedRecord(secret?.annotations);
  const services = targetServices(ctx);
  const known = await hs.listPreAuthKeys([...ctx.state.users!.values()]);
  ctx.state.oldKeys = services
    .map((s) => minted[s])
    .filter((id): id is string => Boolean(id))
    .map((id) => known.find((k) => k.id === id))
    .filter((k): k is HsPreAuthKey => Boolean(k));
  await resolveKeysPhase(ctx, true);
}

async function restartPhase(ctx: Context): Promise<void> {
  const kube = await ctx.kube();
  const ns = ctx.config.platform.namespace;
  const services = targetServices(ctx);
  const deployments = await Promise.all(services.map((s) => kube.getDeployment(ns, workloadName(s))));
  await Promise.all(services.filter((_, i) => deployments[i] || ctx.gate.dryRun).map((s) => kube.restartDeployment(ns, workloadName(s))));
}

async function expireOldPhase(ctx: Context): Promise<void> {
  const hs = await ctx.headscale();
  const fresh = new Set([...(ctx.state.keys?.values() ?? [])].map((k) => k.keyId));
  const old = (ctx.state.oldKeys ?? []).filter((k) => !fresh.has(k.id) && (!k.expiration || k.expiration > new Date()));
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

export const rotatePhases: PhaseDef<Context> = {
  id: ROTATE_ID,
  description: 'Rotate the sidecars\' pre-auth keys without downtime',
  children: [
    { id: 'mint', description: 'Mint a new reusable key per service (old keys stay valid)', run: mintPhase },
    { id: 'secret', description: 'Write the new keys to the auth Secret', requires: [`${ROTATE_ID}/mint`], run: writeSecretPhase },
    { id: 'restart', description: 'Restart the Deployments that carry sidecars', run: restartPhase },
    {
      id: 'wait',
      description: 'Wait until every sidecar is Ready and its node online',
      run: async (ctx) => {
        await waitForSidecars(ctx, targetServices(ctx));
      },
    },
    { id: 'expire-old', description: 'Expire the previous keys june-ts minted', requires: [`${ROTATE_ID}/wait`, `${ROTATE_ID}/mint`], run: expireOldPhase },
  ],
};
