// What each Headscale generation says, in one place. For every operation a dialect builds
// the CLI argv (after `headscale`) and the REST request that generation expects, and reads
// the answer with the zod schemas of ./schemas.ts. Pure: ./client.ts sends what a dialect
// builds through a wire (./cli-wire.ts, ./http-wire.ts).
//
// A generation is written as what changed since the one before (seen in the real binaries,
// test/unit/headscale/fixtures):
//   0.23–0.25  a user is referred to by NAME; keys are listed per user, in full; a key is
//              expired by its full value and its owner
//   0.26–0.27  a user is referred to by numeric ID (`-u ID`, `?user=ID`, `--identifier ID`)
//   0.28+      one list of all keys (a prefix, not the key); a key is expired by `--id`;
//              `headscale health`; a key is owned by a user or by tags (`--tags`, `aclTags`),
//              and a node registered with a tagged key is owned by its tags
// Expiring by value has no CLI form: the key would be in argv (kubectl exec → audit logs).
// What differs between the wires is the same for every generation: the CLI prints the bare
// object (snake_case), the API wraps it ({"users": …}, camelCase); the CLI takes a duration
// (`--expiration 180d`), the API an absolute time.

import type { z } from 'zod';
import { BugError, ExternalError } from '../errors.js';
import { isTagOwner, numericId } from './common.js';
import {
  ApiNodeListSchema,
  ApiPreAuthKeyListSchema,
  ApiPreAuthKeySchema,
  ApiUserListSchema,
  ApiUserSchema,
  CliNodeListSchema,
  CliPreAuthKeyListSchema,
  CliPreAuthKeySchema,
  CliUserListSchema,
  CliUserSchema,
  ApiPolicySchema,
  HealthSchema,
  parseWith,
  toNode,
  toPreAuthKey,
  toUser,
  type ParseContext,
  type PreAuthKeyJson,
} from './schemas.js';
import {
  generationRange,
  type HsNode,
  type HsPolicy,
  type HsPreAuthKey,
  type HsTagOwner,
  type HsUser,
  type KeyOwner,
  type SyntaxGeneration,
} from './types.js';

/** Reads an answer already parsed from JSON (its keys registered with the redactor). */
export type Reader<T> = (doc: unknown, ctx: ParseContext, text: string) => T;

export interface CliCall<T> {
  /** argv after `headscale`. */
  args: string[];
  /** Absent: the output is not read. */
  read?: Reader<T>;
  /** Written to the command's stdin (the command reads it as `-f /dev/stdin`). */
  input?: string;
  /** Reads stdout as text, not JSON (what `policy get` prints is the policy itself). */
  readText?: (text: string) => T;
}

export interface HttpCall<T> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query, e.g. `/api/v1/preauthkey?user=1`. */
  path: string;
  body?: Record<string, unknown>;
  /** Served without the API key (/health). */
  anonymous?: boolean;
  /** Absent: the answer is only checked to be JSON. */
  read?: Reader<T>;
}

/** One operation as each wire sends it. No `cli`: the CLI could only do it with a secret in argv. */
export interface Request<T> {
  cli?: CliCall<T>;
  http: HttpCall<T>;
}

export interface NewKey {
  reusable: boolean;
  ephemeral: boolean;
  /** The duration the CLI takes (`180d`)… */
  expiration: string;
  /** …and the time the API takes. */
  expiresAt: Date;
}

/** The parts of the OpenAPI document (/swagger/v1/openapiv2.json) that tell the generations apart. */
export type OpenApiDefinitions = Record<string, { properties?: Record<string, { type?: string; $ref?: string }> } | undefined>;

const JSON_OUTPUT = ['-o', 'json'];

function reader<S extends z.ZodType, T>(schema: S, map: (value: z.output<S>, ctx: ParseContext) => T): Reader<T> {
  return (doc, ctx, text) => map(parseWith(schema, doc, ctx, text), ctx);
}

function withKey(key: HsPreAuthKey, ctx: ParseContext): HsPreAuthKey & { key: string } {
  if (!key.key) throw new ExternalError(`\`${ctx.command}\` (Headscale ${ctx.version}) returned no key`, { command: ctx.command });
  return { ...key, key: key.key };
}

/** 0.23–0.25, and what every later generation kept. */
class V023 {
  readonly generation: SyntaxGeneration = 'v023';
  /** Keys are listed per user (and in full); otherwise all at once. */
  readonly listsKeysPerUser: boolean = true;
  /** A key is expired by its full value and its owner; otherwise by its id. */
  readonly expiresKeysByValue: boolean = true;
  /** `userRef` needs the user's numeric id, not only its name. */
  readonly refersToUsersById: boolean = false;
  /** Pre-auth keys can be deleted (not only expired). */
  readonly deletesKeys: boolean = false;
  /** A key can be owned by a tag instead of a user (and so can the nodes registered with it). */
  readonly ownsKeysByTag: boolean = false;

  /** How `-u`, `?user=`, request bodies and paths refer to a user. */
  userRef(user: HsUser): string {
    return user.name;
  }

  /** `preauthkeys expire --help` inherits `-u, --user string`. */
  recognisesHelp(help: string): boolean {
    return /--user string/.test(help);
  }

  /** A key's `user` is a string (the name). */
  recognisesOpenApi(defs: OpenApiDefinitions): boolean {
    return defs['v1PreAuthKey']?.properties?.['user']?.type === 'string';
  }

  /** 0.23–0.27 have no `headscale health`: any call that needs the server proves it answers. */
  health(): Request<void> {
    return {
      cli: { args: ['users', 'list', ...JSON_OUTPUT] },
      http: {
        method: 'GET',
        path: '/health',
        anonymous: true,
        read: reader(HealthSchema, (h, ctx) => {
          if (h.status === 'pass') return;
          throw new ExternalError(
            `Headscale is not healthy: /health says ${JSON.stringify(h.status)}`,
            { command: ctx.command },
            {
              hint: 'check the Headscale logs (database connectivity)',
            },
          );
        }),
      },
    };
  }

  listUsers(): Request<HsUser[]> {
    return {
      cli: { args: ['users', 'list', ...JSON_OUTPUT], read: reader(CliUserListSchema, (users) => users.map(toUser)) },
      http: { method: 'GET', path: '/api/v1/user', read: reader(ApiUserListSchema, (doc) => doc.users.map(toUser)) },
    };
  }

  createUser(name: string): Request<HsUser> {
    return {
      cli: { args: ['users', 'create', name, ...JSON_OUTPUT], read: reader(CliUserSchema, toUser) },
      http: { method: 'POST', path: '/api/v1/user', body: { name }, read: reader(ApiUserSchema, (doc) => toUser(doc.user)) },
    };
  }

  /** The keys of `user`, or of everyone when no user is given. */
  listKeys(user?: HsUser): Request<HsPreAuthKey[]> {
    const ref = user && this.userRef(user);
    const toKeys = (keys: PreAuthKeyJson[]) => keys.map((k) => toPreAuthKey(k, user?.name));
    return {
      cli: { args: ['preauthkeys', 'list', ...(ref ? ['-u', ref] : []), ...JSON_OUTPUT], read: reader(CliPreAuthKeyListSchema, toKeys) },
      http: {
        method: 'GET',
        path: `/api/v1/preauthkey${ref ? `?user=${encodeURIComponent(ref)}` : ''}`,
        read: reader(ApiPreAuthKeyListSchema, (doc) => toKeys(doc.pre_auth_keys)),
      },
    };
  }

  /** A key for a user; a tag owner only where `ownsKeysByTag`. */
  createKey(owner: KeyOwner, o: NewKey): Request<HsPreAuthKey & { key: string }> {
    if (isTagOwner(owner)) throw new BugError(`Headscale ${this.generation} cannot mint a key owned by ${owner.tag}`);
    const user = owner;
    const ref = this.userRef(user);
    const flags = [...(o.reusable ? ['--reusable'] : []), ...(o.ephemeral ? ['--ephemeral'] : [])];
    const toKey = (k: PreAuthKeyJson, ctx: ParseContext) => withKey(toPreAuthKey(k, user.name), ctx);
    return {
      cli: {
        args: ['preauthkeys', 'create', '-u', ref, ...flags, '--expiration', o.expiration, ...JSON_OUTPUT],
        read: reader(CliPreAuthKeySchema, toKey),
      },
      http: {
        method: 'POST',
        path: '/api/v1/preauthkey',
        body: { user: ref, reusable: o.reusable, ephemeral: o.ephemeral, expiration: o.expiresAt.toISOString() },
        read: reader(ApiPreAuthKeySchema, (doc, ctx) => toKey(doc.pre_auth_key, ctx)),
      },
    };
  }

  /** By value: only over the API, the key in the body (never the URL). */
  expireKey(key: HsPreAuthKey, owner: HsUser): Request<void> {
    return { http: { method: 'POST', path: '/api/v1/preauthkey/expire', body: { user: this.userRef(owner), key: key.key } } };
  }

  /** Only where `deletesKeys`. */
  deleteKey(id: string): Request<void> {
    throw new BugError(`Headscale ${this.generation} cannot delete pre-auth key ${id}`);
  }

  listNodes(): Request<HsNode[]> {
    return {
      cli: { args: ['nodes', 'list', ...JSON_OUTPUT], read: reader(CliNodeListSchema, (nodes) => nodes.map(toNode)) },
      http: { method: 'GET', path: '/api/v1/node', read: reader(ApiNodeListSchema, (doc) => doc.nodes.map(toNode)) },
    };
  }

  deleteNode(id: string): Request<void> {
    return {
      cli: { args: ['nodes', 'delete', '-i', id, '--force', ...JSON_OUTPUT] },
      http: { method: 'DELETE', path: `/api/v1/node/${id}` },
    };
  }

  deleteUser(user: HsUser): Request<void> {
    const ref = this.userRef(user);
    return {
      cli: { args: ['users', 'destroy', ref, '--force', ...JSON_OUTPUT] },
      http: { method: 'DELETE', path: `/api/v1/user/${encodeURIComponent(ref)}` },
    };
  }

  /**
   * The CLI prints the stored text itself (plus the newline of its Println), whatever `-o`
   * says; the API wraps it in `{"policy": …}`.
   */
  getPolicy(): Request<HsPolicy> {
    return {
      cli: { args: ['policy', 'get'], readText: (text) => ({ kind: 'stored', text: text.endsWith('\n') ? text.slice(0, -1) : text }) },
      http: { method: 'GET', path: '/api/v1/policy', read: reader(ApiPolicySchema, (doc) => ({ kind: 'stored', text: doc.policy })) },
    };
  }

  /** The text travels on stdin (CLI) or in the body (API), never in argv. */
  setPolicy(text: string): Request<void> {
    return {
      cli: { args: ['policy', 'set', '-f', '/dev/stdin'], input: text, readText: () => undefined },
      http: { method: 'PUT', path: '/api/v1/policy', body: { policy: text } },
    };
  }

  /** Server-side check against live users and nodes: 0.29+ only (see checksPolicy). */
  checkPolicy(text: string): Request<void> {
    return {
      cli: { args: ['policy', 'check', '-f', '/dev/stdin'], input: text, readText: () => undefined },
      http: { method: 'POST', path: '/api/v1/policy/check', body: { policy: text } },
    };
  }
}

/** 0.26–0.27: users are referred to by numeric id. */
class V026 extends V023 {
  override readonly generation: SyntaxGeneration = 'v026';
  override readonly refersToUsersById: boolean = true;

  override userRef(user: HsUser): string {
    return numericId(user);
  }

  /** `-u, --user uint`. */
  override recognisesHelp(help: string): boolean {
    return /--user uint/.test(help);
  }

  /** A key's `user` is a nested User. */
  override recognisesOpenApi(defs: OpenApiDefinitions): boolean {
    return Boolean(defs['v1PreAuthKey']?.properties?.['user']?.$ref);
  }

  override deleteUser(user: HsUser): Request<void> {
    return { ...super.deleteUser(user), cli: { args: ['users', 'destroy', '--identifier', numericId(user), '--force', ...JSON_OUTPUT] } };
  }
}

/** 0.28+: keys are listed all at once and expired by id; `headscale health` exists. */
class V028 extends V026 {
  override readonly generation: SyntaxGeneration = 'v028';
  override readonly listsKeysPerUser: boolean = false;
  override readonly expiresKeysByValue: boolean = false;

  /** `-i, --id uint`. */
  override recognisesHelp(help: string): boolean {
    return /--id\b/.test(help);
  }

  /** ExpirePreAuthKeyRequest names the key by `id`, no longer by `key`. */
  override recognisesOpenApi(defs: OpenApiDefinitions): boolean {
    const expire = defs['v1ExpirePreAuthKeyRequest']?.properties ?? {};
    return 'id' in expire && !('key' in expire);
  }

  /** Asks the server, which pings its database. */
  override health(): Request<void> {
    return { ...super.health(), cli: { args: ['health', ...JSON_OUTPUT] } };
  }

  override expireKey(key: HsPreAuthKey): Request<void> {
    return {
      cli: { args: ['preauthkeys', 'expire', '--id', key.id, ...JSON_OUTPUT] },
      http: { method: 'POST', path: '/api/v1/preauthkey/expire', body: { id: key.id } },
    };
  }

  override readonly deletesKeys: boolean = true;
  override readonly ownsKeysByTag: boolean = true;

  /** A tag-owned key names no user (a user on it would only record who created it). */
  override createKey(owner: KeyOwner, o: NewKey): Request<HsPreAuthKey & { key: string }> {
    return isTagOwner(owner) ? this.createTaggedKey(owner, o) : super.createKey(owner, o);
  }

  private createTaggedKey(owner: HsTagOwner, o: NewKey): Request<HsPreAuthKey & { key: string }> {
    const flags = [...(o.reusable ? ['--reusable'] : []), ...(o.ephemeral ? ['--ephemeral'] : [])];
    const toKey = (k: PreAuthKeyJson, ctx: ParseContext) => withKey(toPreAuthKey(k), ctx);
    return {
      cli: {
        args: ['preauthkeys', 'create', '--tags', owner.tag, ...flags, '--expiration', o.expiration, ...JSON_OUTPUT],
        read: reader(CliPreAuthKeySchema, toKey),
      },
      http: {
        method: 'POST',
        path: '/api/v1/preauthkey',
        body: { aclTags: [owner.tag], reusable: o.reusable, ephemeral: o.ephemeral, expiration: o.expiresAt.toISOString() },
        read: reader(ApiPreAuthKeySchema, (doc, ctx) => toKey(doc.pre_auth_key, ctx)),
      },
    };
  }

  override deleteKey(id: string): Request<void> {
    return {
      cli: { args: ['preauthkeys', 'delete', '--id', id, ...JSON_OUTPUT] },
      http: { method: 'DELETE', path: `/api/v1/preauthkey?id=${encodeURIComponent(id)}` },
    };
  }
}

export type Dialect = V023;

/** Newest first: a newer generation's help text or OpenAPI document may still show an older one's marks. */
const DIALECTS = { v028: new V028(), v026: new V026(), v023: new V023() } satisfies Record<SyntaxGeneration, Dialect>;

export function dialectOf(generation: SyntaxGeneration): Dialect {
  return DIALECTS[generation];
}

/** The releases that mint tag-owned keys, e.g. `0.28+`: those of the oldest dialect that does. */
export const TAG_OWNED_KEYS_SINCE = generationRange(
  Object.values(DIALECTS)
    .filter((d) => d.ownsKeysByTag)
    .at(-1)!.generation,
).replace(/–.*/, '+');

/** The generation whose `preauthkeys expire --help` this is (for source builds that print no version). */
export function generationFromHelp(help: string): SyntaxGeneration | undefined {
  return Object.values(DIALECTS).find((d) => d.recognisesHelp(help))?.generation;
}

/** The generation that serves this OpenAPI document (for servers without GET /version). */
export function generationFromOpenApi(defs: OpenApiDefinitions): SyntaxGeneration | undefined {
  return Object.values(DIALECTS).find((d) => d.recognisesOpenApi(defs))?.generation;
}
