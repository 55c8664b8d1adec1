// Rules shared by the Headscale client and the offline client (no zod: the static dry-run
// loads only these).

import { UsageError } from '../errors.js';
import type { HsPreAuthKey, HsTagOwner, HsUser, KeyOwner } from './types.js';

/** What a key "minted" in dry-run holds instead of a secret. */
export const DRY_RUN_KEY = '<dry-run: no key minted>';
/** Id of a user or key that dry-run only pretended to create. */
export const DRY_RUN_ID = '(dry-run)';

/** Headscale's username rule (0.23+): ≥ 2 chars, starts with a letter, letters/digits/-/./_, at most one @. */
export function validateUserName(name: string): void {
  const ok = /^[A-Za-z][A-Za-z0-9._@-]+$/.test(name) && (name.match(/@/g) ?? []).length <= 1;
  if (!ok) {
    throw new UsageError(`invalid Headscale user name ${JSON.stringify(name)}`, {
      hint: 'Headscale user names have at least 2 characters, start with a letter and use letters, digits, "-", "." and "_" (at most one "@")',
    });
  }
}

/** Node, key and (0.26+) user ids are numbers; anything else must not reach a command line or a path. */
export function isNumericId(id: string): boolean {
  return /^\d+$/.test(id);
}

export function numericId(user: HsUser): string {
  if (!isNumericId(user.id)) {
    throw new UsageError(`Headscale user ${user.name} has no numeric id (${JSON.stringify(user.id)}); list users first`);
  }
  return user.id;
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** A Prometheus-style duration as Headscale's `--expiration` takes it (`180d`, `26w`, `1h30m`) → ms. */
export function parseDuration(text: string): number {
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    matched = re.lastIndex;
  }
  if (!text || matched !== text.length || total <= 0) {
    throw new UsageError(`invalid key expiration ${JSON.stringify(text)}`, {
      hint: 'use a duration such as 180d, 26w or 12h',
    });
  }
  return total;
}

export function isTagOwner(owner: KeyOwner): owner is HsTagOwner {
  return 'tag' in owner;
}

/** `june-idp` or `tag:june-idp`: how messages and plans name a key's owner. */
export function ownerName(owner: KeyOwner): string {
  return isTagOwner(owner) ? owner.tag : owner.name;
}

/**
 * Does `owner` own `key`? A tag owns the keys that carry it. A user owns its keys, and a
 * key listed without an owner that carries no tag (a key listed per user names its user).
 */
export function keyOwnedBy(key: HsPreAuthKey, owner: KeyOwner): boolean {
  if (isTagOwner(owner)) return key.aclTags?.includes(owner.tag) ?? false;
  return key.user ? key.user === owner.name : !key.aclTags?.length;
}

export function dryRunKey(owner: KeyOwner, opts: { reusable: boolean; ephemeral?: boolean }): HsPreAuthKey & { key: string } {
  return {
    id: DRY_RUN_ID,
    user: isTagOwner(owner) ? '' : owner.name,
    ...(isTagOwner(owner) ? { aclTags: [owner.tag] } : {}),
    key: DRY_RUN_KEY,
    reusable: opts.reusable,
    ephemeral: opts.ephemeral ?? false,
    used: false,
  };
}
