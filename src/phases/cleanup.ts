// cleanup: the reverse of install, newest first. Sidecars off (other values kept), nodes
// deleted, Secrets deleted; --purge also expires the users' keys and deletes the users, and
// deletes the keys owned by the services' tags; --all uninstalls Headscale. Nodes and keys of
// either identity (user or tag) are removed, whichever TAILNET_IDENTITY was in force. Every
// step tolerates "already gone", so a second run is a no-op.
import type { Context, WorkflowRun } from '../context.js';
import { mergeValues } from '../domain/release.js';
import { ExternalError } from '../errors.js';
import { everyIdentityOf, nodeHasIdentity } from '../domain/identity.js';
import { readMintedRecord } from '../domain/keys.js';
import type { HsNode, HsPreAuthKey } from '../headscale/types.js';
import {
  authKeyEntry,
  HEADSCALE_DEPLOYMENT,
  HOST_USER,
  headscaleUser,
  MANAGED_BY_LABEL,
  serviceTag,
  MINTED_KEYS_ANNOTATION,
  RETIRED_KEYS_ANNOTATION,
  stateSecretName,
} from '../names.js';
import type { PhaseDef } from './engine.js';
import { expireKeys } from './keys.js';
import { releasePolicyPhase } from './policy.js';
import { applyRelease } from './release.js';

export const CLEANUP_ID = 'cleanup';

export interface CleanupData {
  readonly purge: boolean;
  readonly all: boolean;
  /** How many objects the run changed or removed (0: nothing was installed). */
  cleaned: number;
}

type CleanupRun = WorkflowRun<CleanupData>;

const counted = (ctx: CleanupRun, n: number) => {
  ctx.data.cleaned += n;
};

async function headscaleDeployed(ctx: Context): Promise<boolean> {
  const kube = await ctx.kube();
  return Boolean(await kube.getDeployment(ctx.config.headscale.namespace, HEADSCALE_DEPLOYMENT)) || ctx.gate.mode === 'static';
}

async function sidecarsOff(ctx: CleanupRun): Promise<void> {
  const helm = await ctx.helm();
  const { release, namespace, chart } = ctx.config.platform;
  const [current, values] = await Promise.all([helm.release(release, namespace), helm.values(release, namespace)]);
  if (!current && ctx.gate.mode !== 'static') {
    ctx.log.info(`  no release ${release} in ${namespace}: nothing to change`);
    return;
  }
  const tailscale = (values?.tailscale ?? {}) as Record<string, unknown>;
  if (current && tailscale.enabled !== true) {
    ctx.log.info(`  release ${release} already runs without sidecars`);
    return;
  }
  await applyRelease(
    ctx,
    { label: 'June Platform', release, namespace, chart },
    mergeValues(values ?? {}, { tailscale: { enabled: false } }),
    current,
  );
  counted(ctx, 1);
}

async function deleteNodes(ctx: CleanupRun): Promise<void> {
  if (!(await headscaleDeployed(ctx))) {
    ctx.log.info('  Headscale is not deployed: no nodes to delete');
    return;
  }
  const hs = await ctx.headscale();
  const nodes = (await hs.listNodes()).filter((n) => serviceNode(ctx, n));
  await Promise.all(nodes.map((n) => hs.deleteNode(n.id)));
  counted(ctx, nodes.length);
  ctx.log.info(
    nodes.length
      ? `  deleted ${nodes.length} node(s): ${nodes.map((n) => `${n.givenName} (id ${n.id})`).join(', ')}`
      : '  no service nodes registered',
  );
}

/** A node of one of the services, owned by its user or its tag. */
function serviceNode(ctx: CleanupRun, node: HsNode): boolean {
  return ctx.config.services.some((s) => everyIdentityOf(s).some((id) => nodeHasIdentity(node, id)));
}

async function deleteSecrets(ctx: CleanupRun): Promise<void> {
  const kube = await ctx.kube();
  const ns = ctx.config.platform.namespace;
  const keptAuthSecret = await removeOwnAuthEntries(ctx);
  const names = [...(keptAuthSecret ? [] : [ctx.config.authSecretName]), ...ctx.config.services.map(stateSecretName)];
  const deleted = await Promise.all(names.map((n) => kube.deleteSecret(ns, n)));
  const gone = names.filter((_, i) => deleted[i]);
  counted(ctx, gone.length);
  ctx.log.info(gone.length ? `  deleted Secrets: ${gone.join(', ')}` : '  no Secrets to delete');
}

/**
 * The auth Secret may hold entries that are not june-ts's (someone else's keys in a Secret of
 * that name): then only june-ts's entries and annotations are removed and the Secret stays.
 * Returns true when it was kept.
 */
async function removeOwnAuthEntries(ctx: CleanupRun): Promise<boolean> {
  const kube = await ctx.kube();
  const ns = ctx.config.platform.namespace;
  const secret = await kube.getSecret(ns, ctx.config.authSecretName);
  if (!secret) return false;
  const ours = new Set([...ctx.config.services, ...Object.keys(readMintedRecord(secret.annotations))].map(authKeyEntry));
  const foreign = Object.keys(secret.data).filter((k) => !ours.has(k));
  if (!foreign.length) return false;
  const without = <T>(o: Record<string, T>, drop: (k: string) => boolean) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => !drop(k)));
  await kube.restoreSecret(ns, ctx.config.authSecretName, {
    ...secret,
    data: without(secret.data, (k) => ours.has(k)),
    annotations: without(secret.annotations, (k) => k === MINTED_KEYS_ANNOTATION || k === RETIRED_KEYS_ANNOTATION),
    labels: without(secret.labels, (k) => k === MANAGED_BY_LABEL),
  });
  counted(ctx, 1);
  ctx.log.info(
    `  Secret ${ctx.config.authSecretName}: removed june-ts's entries, kept it for ${foreign.length} entr${foreign.length === 1 ? 'y' : 'ies'} that are not june-ts's (${foreign.join(', ')})`,
  );
  return true;
}

async function purge(ctx: CleanupRun): Promise<void> {
  if (!(await headscaleDeployed(ctx))) {
    ctx.log.info('  Headscale is not deployed: no users to delete');
    return;
  }
  const hs = await ctx.headscale();
  const tagged = await deleteTaggedKeys(ctx);
  const wanted = new Set([...ctx.config.services.map(headscaleUser), HOST_USER]);
  const users = (await hs.listUsers()).filter((u) => wanted.has(u.name));
  if (!users.length) {
    if (!tagged) ctx.log.info('  no june-ts users or tagged keys in Headscale');
    return;
  }
  const keys = (await hs.listPreAuthKeys(users)).filter((k) => !k.expiration || k.expiration > new Date());
  const unexpired = await expireKeys(hs, keys);
  if (unexpired.length) {
    ctx.log.warn(
      `${unexpired.length} key(s) could not be expired (${unexpired[0]!.error?.message}); deleting their users invalidates them`,
    );
  }
  // Users that still own nodes cannot be deleted: delete those nodes first (host included).
  const nodes = (await hs.listNodes()).filter((n) => wanted.has(n.user) || serviceNode(ctx, n));
  await Promise.all(nodes.map((n) => hs.deleteNode(n.id)));
  for (const u of users) {
    try {
      await hs.deleteUser(u);
    } catch (e) {
      throw new ExternalError(
        `cannot delete Headscale user ${u.name}: ${(e as Error).message}`,
        {},
        { hint: 'delete its nodes (headscale nodes list) and re-run cleanup --purge' },
      );
    }
  }
  counted(ctx, users.length);
  ctx.log.info(`  deleted users: ${users.map((u) => u.name).join(', ')}`);
}

/**
 * Deletes the keys owned by the services' tags (0.28+, which can delete keys): no user owns
 * them, so nothing else would remove them. Returns how many.
 */
async function deleteTaggedKeys(ctx: CleanupRun): Promise<number> {
  const hs = await ctx.headscale();
  if (!(await hs.tagOwnedKeys()).supported) return 0;
  const keys: HsPreAuthKey[] = await hs.listPreAuthKeys(ctx.config.services.map((s) => ({ tag: serviceTag(s) })));
  await Promise.all(keys.map((k) => hs.deletePreAuthKey(k.id)));
  counted(ctx, keys.length);
  if (keys.length) ctx.log.info(`  deleted ${keys.length} tagged key(s): ${[...new Set(keys.flatMap((k) => k.aclTags ?? []))].join(', ')}`);
  return keys.length;
}

async function uninstallHeadscale(ctx: CleanupRun): Promise<void> {
  const helm = await ctx.helm();
  const removed = await helm.uninstall(ctx.config.headscale.release, ctx.config.headscale.namespace, ctx.config.waitTimeoutMs);
  if (removed) counted(ctx, 1);
  ctx.log.info(removed ? `  uninstalled release ${ctx.config.headscale.release}` : '  Headscale release not installed');
}

export const cleanupPhases: PhaseDef<CleanupRun> = {
  id: CLEANUP_ID,
  description: 'Remove the sidecars and what june-ts created, newest first',
  children: [
    { id: 'sidecars-off', description: 'helm upgrade the platform with tailscale.enabled=false (other values kept)', run: sidecarsOff },
    { id: 'nodes', description: "Delete the services' nodes from Headscale (by id)", run: deleteNodes },
    { id: 'secrets', description: "Delete the auth Secret and the sidecars' state Secrets", run: deleteSecrets },
    {
      id: 'policy',
      description: "Remove june-ts's access policy, leave any other (--purge)",
      skipIf: (ctx) => (ctx.data.purge || ctx.data.all ? undefined : 'needs --purge'),
      run: async (ctx) => {
        if (!(await headscaleDeployed(ctx))) return ctx.log.info('  Headscale is not deployed: no access policy');
        counted(ctx, await releasePolicyPhase(ctx));
      },
    },
    {
      id: 'purge',
      description: "Expire the users' keys and delete the users; delete the keys owned by the services' tags (--purge)",
      skipIf: (ctx) => (ctx.data.purge || ctx.data.all ? undefined : 'needs --purge'),
      run: purge,
    },
    {
      id: 'headscale',
      description: 'Uninstall the Headscale release (--all)',
      skipIf: (ctx) => (ctx.data.all ? undefined : 'needs --all'),
      run: uninstallHeadscale,
    },
  ],
};
