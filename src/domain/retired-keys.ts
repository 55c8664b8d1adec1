// Keys june-ts expired in a rotation, remembered on the auth Secret so that a later run can
// delete them once they are older than the retention period (on Headscale versions that can
// delete keys). Only ids are kept, never key values. Pure.
import { RETIRED_KEYS_ANNOTATION } from '../names.js';

export interface RetiredKey {
  id: string;
  /** When june-ts expired it (ISO 8601). */
  expiredAt: string;
}

/** service -> keys june-ts minted for it and has since expired. */
export type RetiredRecord = Record<string, RetiredKey[]>;

export function readRetiredRecord(annotations: Record<string, string> | undefined): RetiredRecord {
  try {
    const parsed = JSON.parse(annotations?.[RETIRED_KEYS_ANNOTATION] ?? '{}') as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const out: RetiredRecord = {};
    for (const [service, list] of Object.entries(parsed)) {
      if (!Array.isArray(list)) continue;
      const keys = list.filter(
        (k): k is RetiredKey =>
          Boolean(k) && typeof k.id === 'string' && typeof k.expiredAt === 'string' && Number.isFinite(Date.parse(k.expiredAt)),
      );
      if (keys.length) out[service] = keys.map((k) => ({ id: k.id, expiredAt: k.expiredAt }));
    }
    return out;
  } catch {
    return {};
  }
}

export function writeRetiredRecord(record: RetiredRecord): string {
  const sorted = Object.entries(record)
    .filter(([, keys]) => keys.length)
    .sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify(Object.fromEntries(sorted));
}

export function withRetired(record: RetiredRecord, retired: readonly { service: string; id: string }[], at: Date): RetiredRecord {
  const out: RetiredRecord = Object.fromEntries(Object.entries(record).map(([s, keys]) => [s, [...keys]]));
  for (const { service, id } of retired) {
    const keys = (out[service] ??= []);
    if (!keys.some((k) => k.id === id)) keys.push({ id, expiredAt: at.toISOString() });
  }
  return out;
}

export function withoutRetired(record: RetiredRecord, ids: ReadonlySet<string>): RetiredRecord {
  return Object.fromEntries(Object.entries(record).map(([s, keys]) => [s, keys.filter((k) => !ids.has(k.id))]));
}

/** Retired keys whose retention has passed. */
export function dueForDeletion(record: RetiredRecord, now: Date, retentionMs: number): { service: string; id: string }[] {
  return Object.entries(record).flatMap(([service, keys]) =>
    keys.filter((k) => now.getTime() - Date.parse(k.expiredAt) >= retentionMs).map((k) => ({ service, id: k.id })),
  );
}
