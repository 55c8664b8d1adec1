// The version-independent view of Headscale that the rest of june-ts uses: the
// HeadscaleClient seam, its types, and Headscale's version numbers. The dialects
// (./dialects.ts) translate each version's syntax and JSON into these types; nothing
// outside src/headscale should know that 0.23 says `-u NAME` and 0.26 says `-u ID`.

export interface HsUser {
  id: string;
  name: string;
}

/** A tag that owns pre-auth keys and the nodes registered with them (0.28+), instead of a user. */
export interface HsTagOwner {
  tag: string;
}

/** Who a pre-auth key is minted for: a user, or (0.28+) a tag. */
export type KeyOwner = HsUser | HsTagOwner;

export interface HsPreAuthKey {
  id: string;
  /** Name of the owning user ('' for a tag-only key on >= 0.28). */
  user: string;
  /** The full key: only right after creation, or when the version lists keys in full (< 0.28). */
  key?: string;
  /** What >= 0.28 shows instead of the key (`hskey-auth-{prefix}`). Not a secret. */
  keyPrefix?: string;
  reusable: boolean;
  ephemeral: boolean;
  used: boolean;
  expiration?: Date;
  createdAt?: Date;
  aclTags?: string[];
}

export interface HsNode {
  id: string;
  name: string;
  givenName: string;
  /** Name of the owning user. */
  user: string;
  ipAddresses: string[];
  online: boolean;
  lastSeen?: Date;
  expiry?: Date;
  createdAt?: Date;
  /** Id of the pre-auth key the node registered with, where Headscale still knows it. */
  preAuthKeyId?: string;
  /** The tags that own the node (0.28+; absent when none or on older versions). */
  tags?: string[];
}

/**
 * The Headscale generations june-ts speaks, newest first: the first release of each.
 * What each one says on the wire is in ./dialects/ (one file each); adding one is a row
 * here, a dialect file there and its entry in ./dialects.ts.
 */
const GENERATIONS = [
  { generation: 'v028', major: 0, minor: 28 },
  { generation: 'v026', major: 0, minor: 26 },
  { generation: 'v023', major: 0, minor: 23 },
] as const;

/** Which dialect a Headscale speaks, named after the first release that spoke it. */
export type SyntaxGeneration = (typeof GENERATIONS)[number]['generation'];

export interface HeadscaleVersion {
  major: number;
  minor: number;
  patch: number;
  /** What Headscale said about itself (e.g. `v0.26.1`, or `dev` for a source build). */
  raw: string;
  generation: SyntaxGeneration;
  /**
   * reported: Headscale printed a release version; probed: it did not (e.g. `dev`), so
   * the dialect was found from its help text / OpenAPI document and major/minor are the
   * first release of that dialect; assumed: configured, nothing was asked.
   */
  source: 'reported' | 'probed' | 'assumed';
}

export interface CreatePreAuthKeyOptions {
  reusable: boolean;
  ephemeral?: boolean;
  /** A Headscale duration such as `180d`, `26w`, `1h`. */
  expiration: string;
}

/** Whether this Headscale mints keys owned by a tag, and from which release on. */
export interface TagOwnedKeys {
  supported: boolean;
  /** The releases that do, e.g. `0.28+`. */
  since: string;
}

/**
 * The access policy Headscale holds. `stored`: its text byte for byte (database mode, or the
 * file of file mode); `none`: database mode without a policy (every node reaches every node);
 * `file-mode`: the server reads its policy from a file and takes none over its API.
 */
export type HsPolicy = { kind: 'stored'; text: string } | { kind: 'none' } | { kind: 'file-mode'; reason: string };

/** What the plan shows of a policy write (never the text itself). */
export interface PolicyWriteSummary {
  action: 'create' | 'update' | 'release';
  rules: number;
  [detail: string]: unknown;
}

/** Can this Headscale check a policy against its live users and nodes, tests included (0.29+)? */
export function checksPolicy(v: Pick<HeadscaleVersion, 'major' | 'minor'>): boolean {
  return v.major > 0 || v.minor >= 29;
}

/** A read a run may start before a phase needs it (HeadscaleClient.prefetch). */
export type HeadscaleRead = 'users' | 'keys' | 'nodes' | 'policy';

export interface HeadscaleClient {
  /** Detected once per client, then cached. */
  version(): Promise<HeadscaleVersion>;
  /** The server was replaced (an upgrade step): detect the version again on the next call. */
  forgetVersion(): void;
  /**
   * Starts these reads now; the first listUsers/listPreAuthKeys/listNodes/getPolicy after it
   * gets the answer (a later call reads again). A write that may change a read drops it.
   */
  prefetch(reads: readonly HeadscaleRead[]): void;
  /** Throws ExternalError (with a hint) when Headscale cannot be reached or is unhealthy. */
  health(): Promise<void>;
  listUsers(): Promise<HsUser[]>;
  /** Lists once, creates the missing users concurrently (at most 4 at a time), returns all requested in order. */
  ensureUsers(names: string[]): Promise<HsUser[]>;
  /** A key for `owner`; a tag owner only where tagOwnedKeys() says supported. */
  createPreAuthKey(owner: KeyOwner, opts: CreatePreAuthKeyOptions): Promise<HsPreAuthKey & { key: string }>;
  /** One call per user on < 0.28, a single call on >= 0.28 (filtered to `owners` client-side). */
  listPreAuthKeys(owners: KeyOwner[]): Promise<HsPreAuthKey[]>;
  /** Can this Headscale mint keys owned by a tag (0.28+)? */
  tagOwnedKeys(): Promise<TagOwnedKeys>;
  expirePreAuthKey(key: HsPreAuthKey): Promise<void>;
  /** Can this Headscale delete pre-auth keys (0.28+)? */
  canDeletePreAuthKeys(): Promise<boolean>;
  /** Deletes a key by id (nodes that registered with it keep working). Only where canDeletePreAuthKeys. */
  deletePreAuthKey(id: string): Promise<void>;
  listNodes(): Promise<HsNode[]>;
  deleteNode(id: string): Promise<void>;
  deleteUser(user: HsUser): Promise<void>;
  getPolicy(): Promise<HsPolicy>;
  /** Stores `text` as the policy (Headscale validates it, and runs its tests on 0.29+). */
  setPolicy(text: string, summary: PolicyWriteSummary): Promise<void>;
  /** Validates `text` without storing it; false where this Headscale cannot (before 0.29). Throws when invalid. */
  checkPolicy(text: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------
// Versions

/**
 * The newest patch of every Headscale minor june-ts knows, oldest first: an upgrade steps
 * through each minor in between with these (0.29 refuses to start after a skipped minor).
 * The last one is what june-ts deploys by default (helm/headscale's image.tag).
 */
export const HEADSCALE_RELEASES = ['0.23.0', '0.24.3', '0.25.1', '0.26.1', '0.27.1', '0.28.0', '0.29.3'] as const;

/** The Headscale version june-ts deploys unless HEADSCALE_VERSION says otherwise. */
export const HEADSCALE_DEFAULT_VERSION: string = HEADSCALE_RELEASES[HEADSCALE_RELEASES.length - 1]!;

export function generationOf(major: number, minor: number): SyntaxGeneration {
  const row = GENERATIONS.find((g) => major > g.major || (major === g.major && minor >= g.minor));
  return (row ?? GENERATIONS[GENERATIONS.length - 1]!).generation;
}

/** `v0.26.1`, `0.29.2`, `v0.28.0-beta.1` → numbers; anything else (`dev`, '') → undefined. */
export function parseVersionString(raw: string): { major: number; minor: number; patch: number } | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$/.exec(raw.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/** A version Headscale reported about itself, or undefined if it is not a release version. */
export function reportedVersion(raw: string): HeadscaleVersion | undefined {
  const v = parseVersionString(raw);
  if (!v) return undefined;
  return { ...v, raw: raw.trim(), generation: generationOf(v.major, v.minor), source: 'reported' };
}

/** The version a probe found: the first release of that dialect. */
export function probedVersion(generation: SyntaxGeneration, raw: string): HeadscaleVersion {
  const { major, minor } = GENERATIONS.find((g) => g.generation === generation)!;
  return { major, minor, patch: 0, raw: raw.trim() || 'unknown', generation, source: 'probed' };
}

/** A configured version (e.g. `0.26`, `v0.29.2`) for offline use or to skip detection. */
export function assumedVersion(raw: string): HeadscaleVersion {
  const v = parseVersionString(raw);
  if (!v) throw new TypeError(`not a Headscale version: ${JSON.stringify(raw)} (expected e.g. 0.26.1)`);
  return { ...v, raw: raw.trim(), generation: generationOf(v.major, v.minor), source: 'assumed' };
}

export function formatVersion(v: HeadscaleVersion): string {
  const base = `${v.major}.${v.minor}.${v.patch}`;
  if (v.source === 'probed') return `${v.raw} (${generationRange(v.generation)} syntax)`;
  return `v${base}`;
}

/** `0.23–0.25`, `0.26–0.27`, `0.28+`: the releases that speak a dialect. */
export function generationRange(g: SyntaxGeneration): string {
  const i = GENERATIONS.findIndex((row) => row.generation === g);
  const { major, minor } = GENERATIONS[i]!;
  const newer = GENERATIONS[i - 1];
  return newer ? `${major}.${minor}–${newer.major}.${newer.minor - 1}` : `${major}.${minor}+`;
}
