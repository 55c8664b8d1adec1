// Headscale for static dry-run: no cluster, nothing to ask. Reads are empty, the version is
// the configured one (or an assumed current release), writes are recorded by the gate.

import { BugError } from '../errors.js';
import type { WriteGate } from '../write-gate.js';
import { DRY_RUN_ID, dryRunKey, isTagOwner, parseDuration, validateUserName } from './common.js';
import { TAG_OWNED_KEYS_SINCE, dialectOf } from './dialects.js';
import {
  assumedVersion,
  type CreatePreAuthKeyOptions,
  type HeadscaleClient,
  type HeadscaleVersion,
  type HsNode,
  type HsPolicy,
  type HsPreAuthKey,
  type HsUser,
  type KeyOwner,
  type PolicyWriteSummary,
  type TagOwnedKeys,
} from './types.js';

/** The version a static dry-run plans for when none is configured. */
export const OFFLINE_DEFAULT_VERSION = '0.29.3';

export class OfflineHeadscale implements HeadscaleClient {
  private readonly v: HeadscaleVersion;

  constructor(
    private readonly gate: WriteGate,
    version: string = OFFLINE_DEFAULT_VERSION,
  ) {
    this.v = assumedVersion(version);
  }

  async version(): Promise<HeadscaleVersion> {
    return this.v;
  }
  forgetVersion(): void {}
  prefetch(): void {}
  async health(): Promise<void> {}
  async listUsers(): Promise<HsUser[]> {
    return [];
  }
  async listPreAuthKeys(_owners: KeyOwner[]): Promise<HsPreAuthKey[]> {
    return [];
  }
  async tagOwnedKeys(): Promise<TagOwnedKeys> {
    return { supported: dialectOf(this.v.generation).ownsKeysByTag, since: TAG_OWNED_KEYS_SINCE };
  }
  async listNodes(): Promise<HsNode[]> {
    return [];
  }
  /** A fresh server in database mode holds no policy. */
  async getPolicy(): Promise<HsPolicy> {
    return { kind: 'none' };
  }
  async checkPolicy(_text: string): Promise<boolean> {
    return false;
  }
  async setPolicy(_text: string, summary: PolicyWriteSummary): Promise<void> {
    await this.write('set policy', { ...summary }, undefined);
  }

  async ensureUsers(names: string[]): Promise<HsUser[]> {
    names.forEach(validateUserName);
    const created = new Map<string, HsUser>();
    for (const name of new Set(names)) {
      created.set(name, await this.write('create user', { name }, { id: DRY_RUN_ID, name }));
    }
    return names.map((n) => created.get(n) as HsUser);
  }

  async createPreAuthKey(owner: KeyOwner, opts: CreatePreAuthKeyOptions): Promise<HsPreAuthKey & { key: string }> {
    parseDuration(opts.expiration);
    const ephemeral = opts.ephemeral ?? false;
    return this.write(
      'create preauthkey',
      {
        ...(isTagOwner(owner) ? { tags: [owner.tag] } : { user: owner.name }),
        reusable: opts.reusable,
        ephemeral,
        expiration: opts.expiration,
      },
      dryRunKey(owner, { reusable: opts.reusable, ephemeral }),
    );
  }

  async expirePreAuthKey(key: HsPreAuthKey): Promise<void> {
    await this.write('expire preauthkey', { id: key.id, user: key.user }, undefined);
  }
  async canDeletePreAuthKeys(): Promise<boolean> {
    return dialectOf(this.v.generation).deletesKeys;
  }
  async deletePreAuthKey(id: string): Promise<void> {
    await this.write('delete preauthkey', { id }, undefined);
  }
  async deleteNode(id: string): Promise<void> {
    await this.write('delete node', { id }, undefined);
  }
  async deleteUser(user: HsUser): Promise<void> {
    await this.write('delete user', { name: user.name, id: user.id }, undefined);
  }

  private write<T>(action: string, args: Record<string, unknown>, dryResult: T): Promise<T> {
    return this.gate.write(
      { kind: 'headscale', action, args },
      () => Promise.reject(new BugError(`OfflineHeadscale cannot ${action}: it is only for dry-run (gate mode is ${this.gate.mode})`)),
      dryResult,
    );
  }
}
