// What makes a service's pre-auth key good: the rules install, rotate, status and doctor
// share. Pure: no I/O.
import { keyOwnedBy, ownerName } from '../headscale/common.js';
import type { HsPreAuthKey, KeyOwner } from '../headscale/types.js';
import { MINTED_KEYS_ANNOTATION } from '../names.js';

export const DAY_MS = 86_400_000;

/** A service's pre-auth key as a run decided it: kept from the Secret, or minted. */
export interface ServiceKey {
  service: string;
  /** The service's user, or its tag (TAILNET_IDENTITY=tag). */
  owner: KeyOwner;
  /** The key value (secret). */
  key: string;
  /** Headscale's id of the key when known. */
  keyId: string | undefined;
  expiration: Date | undefined;
  minted: boolean;
  /** Why a new key was minted (for the report); undefined when kept. */
  reason?: string;
}

/** Does Headscale's record `k` describe the key value `value`? */
export function keyMatches(k: HsPreAuthKey, value: string): boolean {
  if (k.key) return k.key === value;
  // 0.28+: keys are hskey-auth-{prefix}-{secret}; list shows only hskey-auth-{prefix}
  return Boolean(k.keyPrefix) && value.startsWith(`${k.keyPrefix}-`);
}

export type KeyVerdict = { keep: true; record: HsPreAuthKey } | { keep: false; reason: string };

/** Who Headscale says owns a key: its user, or its tags where it has no user. */
function recordOwner(k: HsPreAuthKey): string {
  return k.user ? `user ${k.user}` : k.aclTags?.length ? `tag ${k.aclTags.join(', ')}` : 'nobody';
}

export function judgeKey(
  value: string | undefined,
  owner: KeyOwner,
  known: readonly HsPreAuthKey[],
  now: Date,
  renewBeforeMs: number,
): KeyVerdict {
  if (!value) return { keep: false, reason: 'no key in the Secret' };
  const record = known.find((k) => keyMatches(k, value));
  if (!record) return { keep: false, reason: 'the key in the Secret is unknown to Headscale (deleted, garbage, or from another server)' };
  if (!keyOwnedBy(record, owner)) return { keep: false, reason: `the key belongs to ${recordOwner(record)}, not ${ownerName(owner)}` };
  if (record.expiration && record.expiration.getTime() <= now.getTime()) return { keep: false, reason: 'the key has expired' };
  if (record.expiration && record.expiration.getTime() - now.getTime() < renewBeforeMs) {
    const days = Math.floor((record.expiration.getTime() - now.getTime()) / DAY_MS);
    return { keep: false, reason: `the key expires in ${days} day(s), within the renewal margin` };
  }
  if (!record.reusable) return { keep: false, reason: 'the key is not reusable' };
  return { keep: true, record };
}

/** The minted-keys annotation: service -> Headscale key id, for keys june-ts created. */
export function readMintedRecord(annotations: Record<string, string> | undefined): Record<string, string> {
  try {
    const parsed = JSON.parse(annotations?.[MINTED_KEYS_ANNOTATION] ?? '{}') as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    }
  } catch {
    /* a hand-edited annotation is treated as empty */
  }
  return {};
}
