// The HeadscaleClient for a real Headscale, whatever the version and the wire. It owns what
// they all share: version detection (once, memoised), ensure-users, the key-listing
// strategy, id checks, the write gate and the concurrency bound. What to send is asked of
// the dialect of the detected generation (./dialects.ts); how to send it, of the wire.

import { ExternalError, UsageError } from '../errors.js';
import type { WriteGate } from '../write-gate.js';
import { redactor } from '../ui/redact.js';
import { mapLimit } from '../util/concurrency.js';
import { DRY_RUN_ID, dryRunKey, isNumericId, isTagOwner, keyOwnedBy, ownerName, parseDuration, validateUserName } from './common.js';
import { TAG_OWNED_KEYS_SINCE, dialectOf, type Dialect } from './dialects.js';
import type { Request } from './dialects/request.js';
import { assumedVersion, checksPolicy, formatVersion } from './types.js';
import type {
  CreatePreAuthKeyOptions,
  HeadscaleClient,
  HeadscaleVersion,
  HsNode,
  HsPolicy,
  HsPreAuthKey,
  HeadscaleRead,
  HsUser,
  KeyOwner,
  PolicyWriteSummary,
  TagOwnedKeys,
} from './types.js';

interface ReadResult {
  users: HsUser[];
  nodes: HsNode[];
  policy: HsPolicy;
  keys: HsPreAuthKey[];
}

/** How requests reach Headscale: its CLI (./cli-wire.ts) or its REST API (./http-wire.ts). */
export interface Wire {
  /** Ask Headscale which version it is (the client asks once). */
  detectVersion(): Promise<HeadscaleVersion>;
  /** Send `request` in this wire's form and read the answer; `version` labels errors. */
  send<T>(request: Request<T>, version: string): Promise<T>;
  /**
   * Run the health probe (detection included). The CLI wire explains a failure as "not
   * healthy"; the HTTP wire then proves that the API key is accepted with `authenticated`.
   */
  checkHealth(probe: () => Promise<void>, authenticated: () => Promise<unknown>): Promise<void>;
  /** Throws when this wire cannot carry a secret to Headscale to `action` (the CLI: it would be in argv). */
  assertCanCarrySecret(action: string, version: HeadscaleVersion): void;
}

export interface HeadscaleOptions {
  gate: WriteGate;
  /** Skip detection and speak this version's dialect (e.g. `0.26.1`). */
  assumeVersion?: string;
  /** Requests in flight when creating users or listing keys per user (default 4). */
  concurrency?: number;
}

const DEFAULT_CONCURRENCY = 4;

/** What each write may change, so a read started before it is not handed out after it. */
const WRITE_CHANGES: Record<string, readonly HeadscaleRead[]> = {
  'create user': ['users'],
  'delete user': ['users', 'keys', 'nodes'],
  'create preauthkey': ['keys'],
  'expire preauthkey': ['keys'],
  'delete preauthkey': ['keys'],
  'delete node': ['nodes'],
  'set policy': ['policy'],
};

export class Headscale implements HeadscaleClient {
  private detected: Promise<HeadscaleVersion> | undefined;
  private readonly concurrency: number;
  /** Reads started ahead of need (prefetch), each handed to the first caller that asks for it. */
  private readonly early = new Map<HeadscaleRead, Promise<unknown>>();

  constructor(
    private readonly wire: Wire,
    private readonly opts: HeadscaleOptions,
  ) {
    this.concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    if (opts.assumeVersion) this.detected = Promise.resolve(assumedVersion(opts.assumeVersion));
  }

  version(): Promise<HeadscaleVersion> {
    this.detected ??= this.wire.detectVersion().catch((e: unknown) => {
      this.detected = undefined; // a failed detection may be retried
      throw e;
    });
    return this.detected;
  }

  forgetVersion(): void {
    if (!this.opts.assumeVersion) this.detected = undefined;
    this.early.clear();
  }

  prefetch(reads: readonly HeadscaleRead[]): void {
    for (const read of reads) {
      if (this.early.has(read)) continue;
      const answer = this.readNow(read);
      answer.catch(() => undefined); // held for the caller that takes it
      this.early.set(read, answer);
    }
  }

  async health(): Promise<void> {
    await this.wire.checkHealth(
      () => this.send((d) => d.health()),
      // the users the probe read are as fresh as the next caller's would be
      () => this.listUsers().then((users) => this.early.set('users', Promise.resolve(users))),
    );
  }

  listUsers(): Promise<HsUser[]> {
    return this.take('users');
  }

  listNodes(): Promise<HsNode[]> {
    return this.take('nodes');
  }

  async listPreAuthKeys(owners: KeyOwner[]): Promise<HsPreAuthKey[]> {
    const dialect = await this.dialect();
    if (!dialect.listsKeysPerUser) {
      return (await this.take('keys')).filter((k) => owners.some((o) => keyOwnedBy(k, o)));
    }
    const tagged = owners.find(isTagOwner);
    if (tagged) throw new UsageError(`Headscale ${formatVersion(await this.version())} has no keys owned by ${tagged.tag}`);
    const users = (owners as HsUser[]).filter((u, i) => owners.findIndex((other) => ownerName(other) === u.name) === i);
    const perUser = await mapLimit(users, this.concurrency, (user) => this.send((d) => d.listKeys(user)));
    return perUser.flat();
  }

  async tagOwnedKeys(): Promise<TagOwnedKeys> {
    return { supported: (await this.dialect()).ownsKeysByTag, since: TAG_OWNED_KEYS_SINCE };
  }

  /** Lists once, creates what is missing (bounded), and takes a user someone else created meanwhile. */
  async ensureUsers(names: string[]): Promise<HsUser[]> {
    const wanted = [...new Set(names)];
    wanted.forEach(validateUserName);
    const byName = (users: HsUser[]) => new Map(users.map((u) => [u.name, u]));
    const existing = byName(await this.listUsers());
    let relisted: Map<string, HsUser> | undefined;
    await mapLimit(
      wanted.filter((n) => !existing.has(n)),
      this.concurrency,
      async (name) => {
        try {
          existing.set(name, await this.createUser(name));
        } catch (e) {
          relisted ??= byName(await this.listUsers());
          const found = relisted.get(name);
          if (!found) throw e;
          existing.set(name, found);
        }
      },
    );
    return names.map((n) => existing.get(n) as HsUser);
  }

  private async createUser(name: string): Promise<HsUser> {
    validateUserName(name);
    return this.write('create user', { name }, () => this.send((d) => d.createUser(name)), { id: DRY_RUN_ID, name });
  }

  async createPreAuthKey(owner: KeyOwner, opts: CreatePreAuthKeyOptions): Promise<HsPreAuthKey & { key: string }> {
    const ms = parseDuration(opts.expiration); // reject garbage before Headscale sees it
    const key = { reusable: opts.reusable, ephemeral: opts.ephemeral ?? false, expiration: opts.expiration };
    if (isTagOwner(owner) && !(await this.dialect()).ownsKeysByTag) {
      throw new UsageError(
        `Headscale ${formatVersion(await this.version())} cannot mint a key owned by ${owner.tag}: tag-owned keys need Headscale ${TAG_OWNED_KEYS_SINCE}`,
      );
    }
    return this.write(
      'create preauthkey',
      { ...(isTagOwner(owner) ? { tags: [owner.tag] } : { user: owner.name }), ...key },
      () => this.send((d) => d.createKey(owner, { ...key, expiresAt: new Date(Date.now() + ms) })),
      dryRunKey(owner, key),
    );
  }

  async expirePreAuthKey(key: HsPreAuthKey): Promise<void> {
    const version = await this.version();
    const dialect = dialectOf(version.generation);
    let owner: HsUser = { id: '', name: key.user }; // a name is all 0.23 needs
    if (dialect.expiresKeysByValue) {
      this.wire.assertCanCarrySecret('expire a pre-auth key', version);
      if (!key.key) {
        throw new UsageError(
          `Headscale ${formatVersion(version)} expires a pre-auth key by its full value, and key ${key.id} of ${key.user} was listed without it`,
        );
      }
      redactor.add(key.key);
      if (dialect.refersToUsersById) owner = await this.userNamed(key.user);
    } else if (!isNumericId(key.id)) {
      throw new UsageError(`cannot expire pre-auth key with id ${JSON.stringify(key.id)}`);
    }
    await this.write('expire preauthkey', { id: key.id, user: key.user }, () => this.send((d) => d.expireKey(key, owner)), undefined);
  }

  async canDeletePreAuthKeys(): Promise<boolean> {
    return (await this.dialect()).deletesKeys;
  }

  async deletePreAuthKey(id: string): Promise<void> {
    if (!isNumericId(id)) throw new UsageError(`cannot delete pre-auth key with id ${JSON.stringify(id)}`);
    await this.write('delete preauthkey', { id }, () => this.send((d) => d.deleteKey(id)), undefined);
  }

  async deleteNode(id: string): Promise<void> {
    if (!isNumericId(id)) throw new UsageError(`Headscale node ids are numeric, got ${JSON.stringify(id)}`);
    await this.write('delete node', { id }, () => this.send((d) => d.deleteNode(id)), undefined);
  }

  async deleteUser(user: HsUser): Promise<void> {
    await this.write('delete user', { name: user.name, id: user.id }, () => this.send((d) => d.deleteUser(user)), undefined);
  }

  getPolicy(): Promise<HsPolicy> {
    return this.take('policy');
  }

  private async readPolicy(): Promise<HsPolicy> {
    try {
      return await this.send((d) => d.getPolicy());
    } catch (e) {
      const absent = policyAbsence(e);
      if (absent) return absent;
      throw e;
    }
  }

  private readNow<R extends HeadscaleRead>(read: R): Promise<ReadResult[R]>;
  private readNow(read: HeadscaleRead): Promise<ReadResult[HeadscaleRead]> {
    switch (read) {
      case 'users':
        return this.send((d) => d.listUsers());
      case 'nodes':
        return this.send((d) => d.listNodes());
      case 'policy':
        return this.readPolicy();
      case 'keys':
        // one list for every owner exists only where keys are listed globally (0.28+)
        return this.dialect().then((d) => (d.listsKeysPerUser ? [] : this.send((dd) => dd.listKeys())));
    }
  }

  /** The prefetched answer if there is one (once), else a read now. */
  private take<R extends HeadscaleRead>(read: R): Promise<ReadResult[R]> {
    const early = this.early.get(read);
    if (!early) return this.readNow(read);
    this.early.delete(read);
    return early as Promise<ReadResult[R]>;
  }

  async setPolicy(text: string, summary: PolicyWriteSummary): Promise<void> {
    await this.write('set policy', { ...summary }, () => this.send((d) => d.setPolicy(text)), undefined);
  }

  async checkPolicy(text: string): Promise<boolean> {
    if (!checksPolicy(await this.version())) return false;
    await this.send((d) => d.checkPolicy(text));
    return true;
  }

  private async userNamed(name: string): Promise<HsUser> {
    const user = (await this.listUsers()).find((u) => u.name === name);
    if (!user) throw new ExternalError(`Headscale user ${name} not found`, { command: 'list users' });
    return user;
  }

  private async dialect(): Promise<Dialect> {
    return dialectOf((await this.version()).generation);
  }

  private async send<T>(build: (dialect: Dialect) => Request<T>): Promise<T> {
    const version = await this.version();
    return this.wire.send(build(dialectOf(version.generation)), formatVersion(version));
  }

  private write<T>(action: string, args: Record<string, unknown>, act: () => Promise<T>, dryResult: T): Promise<T> {
    for (const read of WRITE_CHANGES[action] ?? ['users', 'keys', 'nodes', 'policy']) this.early.delete(read);
    return this.opts.gate.write({ kind: 'headscale', action, args }, act, dryResult);
  }
}

/** What Headscale says when it holds no policy it could hand out, read from the failed `get`. */
function policyAbsence(e: unknown): HsPolicy | undefined {
  if (!(e instanceof ExternalError)) return undefined;
  if (/acl policy not found/i.test(e.message)) return { kind: 'none' };
  const file = /reading policy from (path|file)[^\n]*/i.exec(e.message);
  if (file) return { kind: 'file-mode', reason: file[0] };
  return undefined;
}
