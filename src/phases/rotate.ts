// rotate-keys: a Headscale-and-Secret operation, not a pod operation. A running node does not
// need the pre-auth key it registered with, so: mint → Secret → prove each new key with a
// key-check registration → expire the old keys june-ts minted (and delete retired ones past
// KEY_RETENTION where Headscale can delete keys). The service's pods keep running; --restart
// re-registers them and waits until the rollout has really finished before anything expires.
// A failure before the old keys are expired restores the Secret; the old keys stay valid.
import type { Context, WorkflowRun } from '../context.js';
import { assertIdentitySupported, identityOf, keyOwnerOf, usersNeeded } from '../domain/identity.js';
import { judgeKey, readMintedRecord } from '../domain/keys.js';
import { dueForDeletion, readRetiredRecord, withRetired, withoutRetired, type RetiredRecord } from '../domain/retired-keys.js';
import { ExternalError } from '../errors.js';
import { keyOwnedBy } from '../headscale/common.js';
import type { HeadscaleRead, HsPreAuthKey, KeyOwner } from '../headscale/types.js';
import { rolledOut } from '../kube/rollout.js';
import { SIDECAR_CONTAINER, authKeyEntry, workloadName } from '../names.js';
import { Handoff, type PhaseDef } from './engine.js';
import { proveKeys, type KeyProof } from './key-check.js';
import { expireKeys } from './keys.js';
import {
  discardUnsavedKeys,
  ensureOwnersPhase,
  resolveKeysPhase,
  sidecarsData,
  waitForSidecars,
  writeSecretPhase,
  type SidecarsData,
} from './sidecars.js';

export const ROTATE_ID = 'rotate';

export interface RotateOptions {
  /** Re-register the sidecars by restarting their Deployments (off: no pod is touched). */
  restart: boolean;
}

export interface RotateData extends SidecarsData {
  readonly restart: boolean;
  /** The keys june-ts minted before this rotation (to expire once the new ones are proven). */
  readonly oldKeys: Handoff<HsPreAuthKey[]>;
  /** Keys june-ts expired in this or earlier rotations, written to the Secret with the new keys. */
  readonly retired: Handoff<RetiredRecord>;
  readonly proofs: Handoff<KeyProof[]>;
}

export function rotateData(services: readonly string[], options: RotateOptions): RotateData {
  return {
    ...sidecarsData(services),
    restart: options.restart,
    oldKeys: new Handoff('the keys before the rotation'),
    retired: new Handoff('the retired keys'),
    proofs: new Handoff('the proofs of the new keys'),
  };
}

type RotateRun = WorkflowRun<RotateData>;

/**
 * Services whose key in the Secret is missing, unknown to Headscale, or expires within
 * `windowMs` (rotate-keys --if-expiring-within). Read-only.
 */
export async function servicesDue(
  ctx: Pick<Context, 'config' | 'kube' | 'headscale'>,
  services: readonly string[],
  windowMs: number,
): Promise<{ service: string; reason: string }[]> {
  const hs = await ctx.headscale();
  const kube = await ctx.kube();
  if (ctx.config.tailnetIdentity === 'tag') assertIdentitySupported(ctx.config, await hs.tagOwnedKeys(), await hs.version());
  const identities = services.map((s) => identityOf(s, ctx.config));
  const byUser = identities.some((id) => id.kind === 'user');
  const [secret, users] = await Promise.all([
    kube.getSecret(ctx.config.platform.namespace, ctx.config.authSecretName),
    byUser ? hs.listUsers() : Promise.resolve([]),
  ]);
  const owners = identities.map((id) => keyOwnerOf(id, users));
  const present = owners.filter((o): o is KeyOwner => Boolean(o));
  const known = present.length ? await hs.listPreAuthKeys(present) : [];
  const now = new Date();
  return services.flatMap((service, i) => {
    const id = identities[i]!;
    const owner = owners[i] ?? { id: '', name: id.kind === 'user' ? id.user : id.tag };
    const verdict = judgeKey(secret?.data[authKeyEntry(service)], owner, known, now, windowMs);
    return verdict.keep ? [] : [{ service, reason: verdict.reason }];
  });
}

async function mintPhase(ctx: RotateRun): Promise<void> {
  await ensureOwnersPhase(ctx);
  const hs = await ctx.headscale();
  const kube = await ctx.kube();
  const secret = await kube.getSecret(ctx.config.platform.namespace, ctx.config.authSecretName);
  const minted = readMintedRecord(secret?.annotations);
  const owners = ctx.data.owners.get();
  const known = await hs.listPreAuthKeys([...owners.values()]);
  ctx.data.oldKeys.set(
    ctx.data.services
      .map((s) => minted[s])
      .filter((id): id is string => Boolean(id))
      .map((id) => known.find((k) => k.id === id))
      .filter((k): k is HsPreAuthKey => Boolean(k)),
  );
  // Retired keys Headscale no longer lists were deleted: forget them with this Secret write.
  const listed = new Set(known.map((k) => k.id));
  const retired = readRetiredRecord(secret?.annotations);
  const gone = new Set(
    Object.values(retired)
      .flat()
      .map((k) => k.id)
      .filter((id) => !listed.has(id)),
  );
  const canDelete = await hs.canDeletePreAuthKeys();
  const retiring = canDelete
    ? ctx.data.oldKeys.get().map((k) => ({ service: ctx.data.services.find((s) => keyOwnedBy(k, owners.get(s)!)) ?? k.user, id: k.id }))
    : [];
  ctx.data.retired.set(withRetired(withoutRetired(retired, gone), retiring, new Date()));
  await resolveKeysPhase(ctx, true);
}

async function provePhase(ctx: RotateRun): Promise<void> {
  const fresh = [...ctx.data.keys.get().values()].filter((k) => k.minted);
  const proofs = ctx.data.proofs.set(await proveKeys(ctx, fresh));
  if (ctx.gate.dryRun) return;
  for (const p of proofs) {
    ctx.log.info(
      p.kind === 'pod'
        ? `  ${p.service}: new key registered a key-check node (id ${p.nodeId}, removed again)`
        : `  ${p.service}: new key accepted by Headscale (${p.note}; not proven by a registration)`,
    );
  }
}

/** Pods of a Deployment: its rollout finished, no old pod is left, every sidecar Ready. */
async function podsSettled(ctx: RotateRun, service: string): Promise<boolean> {
  const kube = await ctx.kube();
  const ns = ctx.config.platform.namespace;
  const d = await kube.getDeployment(ns, workloadName(service));
  if (!d) return true;
  if (!rolledOut(d)) return false;
  const selector = Object.entries(d.podLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = await kube.listPods(ns, selector);
  return (
    pods.length === d.replicas && pods.every((p) => !p.deletionTimestamp && p.containers.find((c) => c.name === SIDECAR_CONTAINER)?.ready)
  );
}

async function restartPhase(ctx: RotateRun): Promise<void> {
  const kube = await ctx.kube();
  const ns = ctx.config.platform.namespace;
  const services = ctx.data.services;
  const deployments = await Promise.all(services.map((s) => kube.getDeployment(ns, workloadName(s))));
  const present = services.filter((_, i) => deployments[i] || ctx.gate.dryRun);
  const noSurge = present.filter((_, i) => deployments[i] && deployments[i]!.maxSurge === 0);
  if (noSurge.length) {
    ctx.log.warn(
      `${noSurge.map(workloadName).join(', ')}: the Deployment allows no surge (one state Secret per pod: tailscale.state.persist=true), so each of these services is down from the moment its old pod stops until the new one is Ready`,
    );
  }
  await Promise.all(present.map((s) => kube.restartDeployment(ns, workloadName(s))));
  if (ctx.gate.dryRun) {
    ctx.gate.record({
      kind: 'note',
      text: `wait until the new pods of ${present.map(workloadName).join(', ')} are Ready, the old ones gone and every node online`,
    });
    return;
  }
  const deadline = Date.now() + ctx.config.waitTimeoutMs;
  for (let pending = present; pending.length;) {
    const settled = await Promise.all(pending.map((s) => podsSettled(ctx, s)));
    pending = pending.filter((_, i) => !settled[i]);
    if (!pending.length) break;
    if (Date.now() > deadline || ctx.signal.aborted) {
      throw new ExternalError(
        `restart not finished after ${Math.round(ctx.config.waitTimeoutMs / 1000)}s: ${pending.map(workloadName).join(', ')}`,
        {},
        {
          hint: `kubectl -n ${ns} get pods; kubectl -n ${ns} describe deployment ${workloadName(pending[0]!)}`,
        },
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  await waitForSidecars(ctx, present);
}

async function expireOldPhase(ctx: RotateRun): Promise<void> {
  const hs = await ctx.headscale();
  const fresh = new Set([...ctx.data.keys.get().values()].map((k) => k.keyId));
  const old = ctx.data.oldKeys.get().filter((k) => !fresh.has(k.id) && (!k.expiration || k.expiration > new Date()));
  if (!old.length) ctx.log.info('  no earlier keys minted by june-ts to expire');
  const failed = await expireKeys(hs, old);
  for (const f of failed) {
    ctx.log.warn(
      `old key ${f.key.id} of ${f.key.user || f.key.aclTags?.join(', ')} not expired: ${f.error.message} — it stays valid until ${f.key.expiration?.toISOString() ?? 'its expiry'}`,
    );
  }
  if (old.length && failed.length < old.length) ctx.log.info(`  expired ${old.length - failed.length} old key(s)`);
  const due = dueForDeletion(ctx.data.retired.get(), new Date(), ctx.config.keyRetentionMs).filter(
    (k) => !failed.some((f) => f.key.id === k.id),
  );
  if (!due.length) return;
  const results = await Promise.allSettled(due.map((k) => hs.deletePreAuthKey(k.id)));
  const deleted = results.filter((r) => r.status === 'fulfilled').length;
  for (const [i, r] of results.entries()) {
    if (r.status === 'rejected')
      ctx.log.warn(
        `retired key ${due[i]!.id} of ${due[i]!.service} not deleted: ${(r.reason as Error).message}; a later rotation tries again`,
      );
  }
  if (deleted) ctx.log.info(`  deleted ${deleted} retired key(s) expired more than ${ctx.config.keyRetention} ago`);
}

/**
 * A rotation that fails after new keys were minted puts the Secret back as it was, so the
 * running sidecars and the old keys stay valid, and discards the new keys nobody holds now;
 * a re-run starts over.
 */
async function restoreSecret(ctx: RotateRun, error: unknown): Promise<void> {
  const wrote = [...(ctx.data.keys.peek()?.values() ?? [])].some((k) => k.minted);
  const previous = ctx.data.previousSecret.peek();
  if (!wrote || ctx.gate.dryRun || previous === undefined) return;
  const kube = await ctx.kube();
  try {
    await kube.restoreSecret(ctx.config.platform.namespace, ctx.config.authSecretName, previous);
  } catch (e) {
    ctx.log.error(`rotation failed and the Secret could not be restored: ${(e as Error).message}`);
    return;
  }
  ctx.log.warn(
    `rotation failed (${(error as Error).message.split('\n')[0]}); the Secret was restored and the old keys stay valid. Fix the cause and re-run \`june-ts rotate-keys\`.`,
  );
  const note = await discardUnsavedKeys(ctx, 'are not in the restored Secret').catch(
    (e: Error) => `the keys minted in this run could not be discarded: ${e.message}`,
  );
  if (note) ctx.log.warn(note);
}

/** The Headscale reads of the mint step before its first write. */
export async function rotateReads(ctx: WorkflowRun<unknown>): Promise<HeadscaleRead[]> {
  if (!ctx.willRun(`${ROTATE_ID}/mint`)) return [];
  return usersNeeded(ctx.config.services, ctx.config).length ? ['users', 'keys'] : ['keys'];
}

export const rotatePhases: PhaseDef<RotateRun> = {
  id: ROTATE_ID,
  description: "Rotate the sidecars' pre-auth keys; running pods are not touched",
  onFailure: restoreSecret,
  children: [
    { id: 'mint', description: 'Mint a new reusable key per service (old keys stay valid)', run: mintPhase },
    { id: 'secret', description: 'Write the new keys to the auth Secret', requires: [`${ROTATE_ID}/mint`], run: writeSecretPhase },
    {
      id: 'prove',
      description: "Prove each new key: a short-lived key-check pod registers with it (the service's pods are not touched)",
      requires: [`${ROTATE_ID}/mint`],
      run: provePhase,
    },
    {
      id: 'restart',
      description: 'Only with --restart: restart the Deployments and wait until the new pods are Ready and online, the old ones gone',
      skipIf: (ctx) =>
        ctx.data.restart ? undefined : 'running nodes keep working without their pre-auth key (--restart re-registers them)',
      run: restartPhase,
    },
    {
      id: 'expire-old',
      description: 'Expire the previous keys june-ts minted; delete retired keys older than KEY_RETENTION',
      requires: [`${ROTATE_ID}/prove`, `${ROTATE_ID}/mint`],
      run: expireOldPhase,
    },
  ],
};
