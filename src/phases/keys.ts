// Minting the keys that cannot be kept (the rules are domain/keys.ts) and expiring keys.
import type { Context } from '../context.js';
import { judgeKey, type ServiceKey } from '../domain/keys.js';
import type { HeadscaleClient, HsPreAuthKey, KeyOwner } from '../headscale/types.js';
import { redactor } from '../ui/redact.js';
import { mapLimit } from '../util/concurrency.js';

export async function mintKey(
  ctx: Pick<Context, 'headscale' | 'config'>,
  service: string,
  owner: KeyOwner,
  reason: string,
): Promise<ServiceKey> {
  const hs = await ctx.headscale();
  const created = await hs.createPreAuthKey(owner, { reusable: true, expiration: ctx.config.keyExpiration });
  redactor.add(created.key);
  return { service, owner, key: created.key, keyId: created.id, expiration: created.expiration, minted: true, reason };
}

/** Expires every key concurrently; returns the ones that could not be expired, with why. */
export async function expireKeys(hs: HeadscaleClient, keys: readonly HsPreAuthKey[]): Promise<{ key: HsPreAuthKey; error: Error }[]> {
  const results = await Promise.allSettled(keys.map((k) => hs.expirePreAuthKey(k)));
  return results.flatMap((r, i) => (r.status === 'rejected' ? [{ key: keys[i]!, error: r.reason as Error }] : []));
}

/** Decide per service; mint the ones that cannot be kept, concurrently. */
export async function resolveKeys(
  ctx: Pick<Context, 'headscale' | 'config' | 'log'>,
  services: readonly string[],
  owners: Map<string, KeyOwner>,
  secretData: Record<string, string>,
  entryOf: (svc: string) => string,
  force: boolean,
): Promise<Map<string, ServiceKey>> {
  const hs = await ctx.headscale();
  // Only keys found in the Secret need Headscale's record; a fresh install or a rotation
  // asks nothing (on 0.23–0.27 that is one `preauthkeys list` per user saved).
  const toCheck = force ? [] : services.filter((s) => secretData[entryOf(s)]).map((s) => owners.get(s)!);
  const known = toCheck.length ? await hs.listPreAuthKeys(toCheck) : [];
  const now = new Date();
  const results = await mapLimit(services, 4, async (svc): Promise<ServiceKey | { failed: unknown }> => {
    const owner = owners.get(svc)!;
    const value = secretData[entryOf(svc)];
    const verdict = force
      ? ({ keep: false, reason: 'rotation requested' } as const)
      : judgeKey(value, owner, known, now, ctx.config.keyRenewBeforeMs);
    if (verdict.keep) {
      return {
        service: svc,
        owner,
        key: value!,
        keyId: verdict.record.id,
        expiration: verdict.record.expiration,
        minted: false,
      } satisfies ServiceKey;
    }
    try {
      return await mintKey(ctx, svc, owner, verdict.reason);
    } catch (e) {
      return { failed: e };
    }
  });
  const done = results.filter((r): r is ServiceKey => !('failed' in r));
  const failure = results.find((r): r is { failed: unknown } => 'failed' in r);
  if (failure) throw new PartialKeysError(done, failure.failed);
  return new Map(done.map((k) => [k.service, k]));
}

/**
 * Minting failed for some service (e.g. Headscale went away). Carries the keys that were
 * minted, so the caller can store them: a re-run then keeps them instead of minting more.
 */
export class PartialKeysError extends Error {
  constructor(
    readonly keys: ServiceKey[],
    override readonly cause: unknown,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}
