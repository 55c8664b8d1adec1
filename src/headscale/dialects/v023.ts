// Headscale 0.23–0.25, and what every later generation kept: a user is referred to by NAME;
// keys are listed per user, in full; a key is expired by its full value and its owner.
import { BugError, ExternalError } from '../../errors.js';
import { isTagOwner } from '../common.js';
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
  toNode,
  toPreAuthKey,
  toUser,
  type ParseContext,
  type PreAuthKeyJson,
} from '../schemas.js';
import type { HsNode, HsPolicy, HsPreAuthKey, HsUser, KeyOwner, SyntaxGeneration } from '../types.js';
import { JSON_OUTPUT, reader, withKey, type NewKey, type OpenApiDefinitions, type Request } from './request.js';

/** 0.23–0.25, and what every later generation kept. */
export class V023 {
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
