// Phase 11.2: one Headscale user (or, with TAILNET_IDENTITY=tag, one tag) and reusable key
// per service, the auth Secret, the platform release with sidecars on, and a bounded wait
// until every sidecar is online.
import type { Context, WorkflowRun } from '../context.js';
import { assertIdentitySupported, identityOf, keyOwnerOf, usersNeeded } from '../domain/identity.js';
import { readMintedRecord, type ServiceKey } from '../domain/keys.js';
import { readRetiredRecord, writeRetiredRecord, type RetiredRecord } from '../domain/retired-keys.js';
import { describeUnhealthy, sidecarHealth } from '../domain/sidecars.js';
import { DegradedError } from '../errors.js';
import { isTagOwner, ownerName } from '../headscale/common.js';
import type { HeadscaleRead, HeadscaleVersion, HsNode, KeyOwner } from '../headscale/types.js';
import type { SecretInfo } from '../kube/types.js';
import {
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  MINTED_KEYS_ANNOTATION,
  RETIRED_KEYS_ANNOTATION,
  SIDECAR_CONTAINER,
  authKeyEntry,
  workloadName,
} from '../names.js';
import { Handoff, type PhaseDef } from './engine.js';
import { PartialKeysError, expireKeys, resolveKeys } from './keys.js';
import { applyPolicyPhase, policyReads, provePolicyPhase } from './policy.js';
import { ensureRelease } from './release.js';

export const SIDECARS_ID = '11.2-headscale-sidecars';

/** What phase 11.2's steps read and hand on (rotate-keys reuses owners, keys and secret). */
export interface SidecarsData {
  /** The services this run acts on (all configured ones, or rotate-keys --service). */
  readonly services: readonly string[];
  /** Who each service's keys are minted for: its Headscale user, or its tag. */
  readonly owners: Handoff<Map<string, KeyOwner>>;
  readonly keys: Handoff<Map<string, ServiceKey>>;
  /** The auth Secret as it was before this run wrote it (null: there was none). */
  readonly previousSecret: Handoff<SecretInfo | null>;
}

export function sidecarsData(services: readonly string[]): SidecarsData {
  return {
    services,
    owners: new Handoff('the owners of the keys (Headscale users or tags)'),
    keys: new Handoff('the pre-auth keys'),
    previousSecret: new Handoff('the auth Secret before this run'),
  };
}

type SidecarsRun = WorkflowRun<SidecarsData>;

export function platformSidecarValues(ctx: Pick<Context, 'config'>): Record<string, unknown> {
  const { config } = ctx;
  return {
    tailscale: {
      enabled: true,
      controlUrl: config.headscale.url,
      authSecretName: config.authSecretName,
      authKeyRefs: Object.fromEntries(config.services.map((s) => [s, authKeyEntry(s)])),
    },
  };
}

/** One Headscale user per service; with tag identities none, once Headscale is known to own keys by tag. */
export async function ensureOwnersPhase(ctx: SidecarsRun): Promise<void> {
  const hs = await ctx.headscale();
  const services = ctx.data.services;
  if (ctx.config.tailnetIdentity === 'tag') assertIdentitySupported(ctx.config, await hs.tagOwnedKeys(), await hs.version());
  const names = usersNeeded(services, ctx.config);
  const users = names.length ? await hs.ensureUsers(names) : [];
  const owners = new Map(services.map((s) => [s, keyOwnerOf(identityOf(s, ctx.config), users)!]));
  ctx.data.owners.set(owners);
  if (users.length) ctx.log.info(`  users: ${users.map((u) => u.name).join(', ')}`);
  else ctx.log.info(`  tags: ${[...owners.values()].map(ownerName).join(', ')} (no Headscale users)`);
}

/** Keys decided per service; `force` mints new ones for every target service (rotation). */
export async function resolveKeysPhase(ctx: SidecarsRun, force = false): Promise<void> {
  const kube = await ctx.kube();
  const secret = ctx.data.previousSecret.set(await kube.getSecret(ctx.config.platform.namespace, ctx.config.authSecretName));
  let keys: Map<string, ServiceKey>;
  try {
    keys = await resolveKeys(ctx, ctx.data.services, ctx.data.owners.get(), secret?.data ?? {}, authKeyEntry, force);
  } catch (e) {
    if (!(e instanceof PartialKeysError)) throw e;
    const minted = e.keys.filter((k) => k.minted);
    // Outside a rotation, keep what was minted so a re-run does not mint it again.
    if (!force && minted.length) {
      ctx.data.keys.set(new Map(minted.map((k) => [k.service, k])));
      await writeSecretPhase(ctx);
      ctx.log.warn(
        `minting failed part-way; the ${minted.length} key(s) already minted (${minted.map((k) => k.service).join(', ')}) were saved to the Secret`,
      );
    }
    throw e.cause;
  }
  ctx.data.keys.set(keys);
  for (const k of keys.values()) {
    ctx.log.info(
      `  ${k.service}: ${k.minted ? `new key (${k.reason})` : `keeping key (expires ${k.expiration?.toISOString().slice(0, 10) ?? 'never'})`}`,
    );
  }
}

/**
 * The Secret june-ts wants: previous entries of other services kept, ours replaced. Every
 * annotation june-ts owns is written each time (server-side apply drops the ones left out).
 */
export function desiredSecret(previous: SecretInfo | null, keys: Map<string, ServiceKey>, retired?: RetiredRecord) {
  const data: Record<string, string> = { ...(previous?.data ?? {}) };
  const minted = readMintedRecord(previous?.annotations);
  for (const k of keys.values()) {
    data[authKeyEntry(k.service)] = k.key;
    if (k.minted && k.keyId) minted[k.service] = k.keyId;
    else if (k.minted) delete minted[k.service];
  }
  return {
    data,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations: {
      [MINTED_KEYS_ANNOTATION]: JSON.stringify(sortKeys(minted)),
      ...nonEmpty(RETIRED_KEYS_ANNOTATION, writeRetiredRecord(retired ?? readRetiredRecord(previous?.annotations))),
    },
  };
}

/** june-ts's annotations are JSON maps; an empty one is left out (and so removed by the apply). */
const OWN_ANNOTATIONS = [MINTED_KEYS_ANNOTATION, RETIRED_KEYS_ANNOTATION] as const;
const nonEmpty = (name: string, json: string): Record<string, string> => (json === '{}' ? {} : { [name]: json });
const sameAnnotations = (a: Record<string, string>, b: Record<string, string>) =>
  OWN_ANNOTATIONS.every((k) => (a[k] ?? '{}') === (b[k] ?? '{}'));

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

export async function writeSecretPhase(ctx: WorkflowRun<SidecarsData & { retired?: Handoff<RetiredRecord> }>): Promise<void> {
  const kube = await ctx.kube();
  const prev = ctx.data.previousSecret.get();
  const want = desiredSecret(prev, ctx.data.keys.get(), ctx.data.retired?.peek());
  const unchanged =
    prev &&
    Object.entries(want.data).every(([k, v]) => prev.data[k] === v) &&
    prev.labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE &&
    sameAnnotations(prev.annotations, want.annotations);
  if (unchanged) {
    ctx.log.info(`  Secret ${ctx.config.authSecretName} is up to date`);
    return;
  }
  try {
    await kube.ensureNamespace(ctx.config.platform.namespace);
    await kube.applySecret({
      namespace: ctx.config.platform.namespace,
      name: ctx.config.authSecretName,
      stringData: want.data,
      labels: want.labels,
      annotations: want.annotations,
    });
  } catch (e) {
    const note = await discardUnsavedKeys(ctx);
    if (note && e instanceof Error) e.message += `\n  ${note}`;
    throw e;
  }
  ctx.log.info(`  Secret ${ctx.config.platform.namespace}/${ctx.config.authSecretName} written (${Object.keys(want.data).length} entries)`);
}

/**
 * The keys minted in this run are held by nobody: the Secret could not be written (e.g. the
 * API server stayed away), or a failed rotation put the previous Secret back. Delete them
 * where Headscale can, expire them otherwise, so no valid reusable key is left that nobody
 * holds; the re-run mints fresh ones. Says what it did, for the error message.
 */
export async function discardUnsavedKeys(
  ctx: WorkflowRun<Pick<SidecarsData, 'keys'>>,
  why = 'were not saved',
): Promise<string | undefined> {
  const minted = [...(ctx.data.keys.peek()?.values() ?? [])].filter((k) => k.minted && k.keyId);
  if (!minted.length) return undefined;
  const hs = await ctx.headscale();
  const deletes = await hs.canDeletePreAuthKeys();
  const records = minted.map((k) => ({
    id: k.keyId!,
    user: isTagOwner(k.owner) ? '' : k.owner.name,
    key: k.key,
    reusable: true,
    ephemeral: false,
    used: false,
  }));
  const failures = deletes
    ? (await Promise.allSettled(records.map((k) => hs.deletePreAuthKey(k.id)))).flatMap((r, i) =>
        r.status === 'rejected' ? [{ key: records[i]!, error: r.reason as Error }] : [],
      )
    : await expireKeys(hs, records);
  const failedIds = new Set(failures.map((f) => f.key.id));
  const failed = minted.filter((k) => failedIds.has(k.keyId!));
  const services = (ks: typeof minted) => ks.map((k) => k.service).join(', ');
  const done = deletes ? 'deleted' : 'expired';
  if (!failed.length)
    return `the ${minted.length} key(s) minted in this run (${services(minted)}) ${why}, so they were ${done} in Headscale; a re-run mints new ones`;
  const cause = failures[0]!.error;
  return `the key(s) minted in this run for ${services(failed)} ${why} and could not be ${done} (${cause?.message ?? cause}); ${deletes ? 'delete' : 'expire'} them in Headscale (key ids ${failed.map((k) => k.keyId).join(', ')})`;
}

export async function platformReleasePhase(ctx: Context): Promise<void> {
  const outcome = await ensureRelease(ctx, {
    label: 'June Platform',
    release: ctx.config.platform.release,
    namespace: ctx.config.platform.namespace,
    chart: ctx.config.platform.chart,
    valuesFiles: ctx.config.platform.valuesFiles,
    values: platformSidecarValues(ctx),
  });
  if (outcome !== 'unchanged') ctx.log.info(`  release ${ctx.config.platform.release} ${outcome} with tailscale.enabled=true`);
}

/** Bounded wait until every service's sidecar is Ready and its node online. */
export async function waitForSidecars(ctx: Context, services: readonly string[]): Promise<HsNode[]> {
  if (ctx.gate.dryRun) {
    ctx.gate.record({ kind: 'note', text: `wait until ${services.map(workloadName).join(', ')} are Ready and online in Headscale` });
    return [];
  }
  const kube = await ctx.kube();
  const deadline = Date.now() + ctx.config.waitTimeoutMs;
  await kube.waitForRollout(ctx.config.platform.namespace, services.map(workloadName), ctx.config.waitTimeoutMs);
  for (;;) {
    const health = await sidecarHealth(ctx, services);
    const problems = health.map(describeUnhealthy).filter((p): p is string => Boolean(p));
    if (!problems.length) return health.map((h) => h.node!);
    ctx.log.waiting(problems.join(', '));
    if (Date.now() > deadline || ctx.signal.aborted) {
      throw new DegradedError(
        `sidecars not online after ${Math.round(ctx.config.waitTimeoutMs / 1000)}s:\n${problems.map((p) => `    ${p}`).join('\n')}`,
        {
          hint: `run \`june-ts doctor\`, or: kubectl -n ${ctx.config.platform.namespace} logs deployment/${workloadName(health.find((h) => describeUnhealthy(h))!.service)} -c ${SIDECAR_CONTAINER}`,
        },
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * The Headscale reads of 11.2's steps before their first write, in the order they are needed.
 * The keys are listed only to judge keys the Secret holds: with none (a first run), not at all.
 */
export async function sidecarsReads(ctx: WorkflowRun<unknown>, version: HeadscaleVersion): Promise<HeadscaleRead[]> {
  const reads: HeadscaleRead[] = [];
  if (ctx.willRun(`${SIDECARS_ID}/users`) && usersNeeded(ctx.config.services, ctx.config).length) reads.push('users');
  if (ctx.willRun(`${SIDECARS_ID}/keys`) && (await secretHoldsKeys(ctx))) reads.push('keys');
  if (ctx.willRun(`${SIDECARS_ID}/policy`) && ctx.config.policy.mode !== 'off') reads.push(...policyReads(version));
  return reads;
}

async function secretHoldsKeys(ctx: Context): Promise<boolean> {
  const secret = await (await ctx.kube()).getSecret(ctx.config.platform.namespace, ctx.config.authSecretName);
  return ctx.config.services.some((s) => secret?.data[authKeyEntry(s)]);
}

export const sidecarsPhase: PhaseDef<SidecarsRun> = {
  id: SIDECARS_ID,
  description: 'Add Tailscale sidecars: Headscale users, pre-auth keys, auth Secret, Helm upgrade',
  children: [
    { id: 'users', description: 'Ensure one Headscale user per service (none with TAILNET_IDENTITY=tag)', run: ensureOwnersPhase },
    {
      id: 'keys',
      description: 'Keep valid pre-auth keys, mint reusable ones where missing, expired or expiring',
      requires: [`${SIDECARS_ID}/users`],
      run: (ctx) => resolveKeysPhase(ctx),
    },
    {
      id: 'secret',
      description: 'Write the auth Secret (server-side apply, one <service>-authkey entry per service)',
      requires: [`${SIDECARS_ID}/keys`],
      run: writeSecretPhase,
    },
    {
      id: 'policy',
      description: 'Write the access policy (TAILNET_ADMINS, TAILNET_EDGES) unless Headscale holds one june-ts did not write',
      run: applyPolicyPhase,
    },
    { id: 'helm', description: 'helm upgrade --install the platform chart with tailscale.enabled=true', run: platformReleasePhase },
    {
      id: 'verify',
      description: 'Wait until every sidecar is Ready and its node online in Headscale',
      run: async (ctx) => {
        const nodes = await waitForSidecars(ctx, ctx.data.services);
        for (const n of nodes)
          ctx.log.info(`  ${n.givenName}: online at ${n.ipAddresses.join(', ')} (${n.givenName}.${ctx.config.tailnetDomain})`);
      },
    },
    {
      id: 'policy-tests',
      description: "Headscale 0.29+: check the access policy's tests against the nodes now online (writes nothing)",
      run: provePolicyPhase,
    },
  ],
};
