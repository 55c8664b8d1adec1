// Helpers shared by the Headscale transports.

import { UsageError } from '../errors.js';
import type { HsPreAuthKey, HsUser } from './types.js';

/** What a key "minted" in dry-run holds instead of a secret. */
export const DRY_RUN_KEY = '<dry-run: no key minted>';
/** Id of a user or key that dry-run only pretended to create. */
export const DRY_RUN_ID = '(dry-run)';

export const DEFAULT_CONCURRENCY = 4;

/** Headscale's username rule (0.23+): ≥ 2 chars, starts with a letter, letters/digits/-/./_, at most one @. */
export function validateUserName(name: string): void {
  const ok = /^[A-Za-z][A-Za-z0-9._@-]+$/.test(name) && (name.match(/@/g) ?? []).length <= 1;
  if (!ok) {
    throw new UsageError(`invalid Headscale user name ${JSON.stringify(name)}`, {
      hint: 'Headscale user names have at least 2 characters, start with a letter and use letters, digits, "-", "." and "_" (at most one "@")',
    });
  }
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

/** Run `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Order-preserving de-duplication. */
export function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}

/**
 * The shared ensure-users algorithm: list once, create what is missing (bounded), and
 * tolerate a user created by someone else between the list and the create.
 */
export async function ensureUsersWith(
  names: readonly string[],
  ops: {
    list: () => Promise<HsUser[]>;
    create: (name: string) => Promise<HsUser>;
    concurrency: number;
  },
): Promise<HsUser[]> {
  const wanted = unique(names);
  wanted.forEach(validateUserName);
  const existing = new Map((await ops.list()).map((u) => [u.name, u]));
  const missing = wanted.filter((n) => !existing.has(n));
  let relisted: Map<string, HsUser> | undefined;
  await mapLimit(missing, ops.concurrency, async (name) => {
    try {
      existing.set(name, await ops.create(name));
    } catch (e) {
      // Created concurrently by someone else? Then it is there now.
      relisted ??= new Map((await ops.list()).map((u) => [u.name, u]));
      const found = relisted.get(name);
      if (!found) throw e;
      existing.set(name, found);
    }
  });
  return names.map((n) => existing.get(n) as HsUser);
}

export function dryRunKey(user: HsUser, opts: { reusable: boolean; ephemeral?: boolean }): HsPreAuthKey & { key: string } {
  return {
    id: DRY_RUN_ID,
    user: user.name,
    key: DRY_RUN_KEY,
    reusable: opts.reusable,
    ephemeral: opts.ephemeral ?? false,
    used: false,
  };
}
