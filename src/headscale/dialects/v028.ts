// Headscale 0.28+: what changed since 0.26 (./v026.ts): one list of all keys (a prefix, not
// the key); a key is expired by `--id`; `headscale health`; a key is owned by a user or by
// tags (`--tags`, `aclTags`), and a node registered with a tagged key is owned by its tags.
import { isTagOwner } from '../common.js';
import { ApiPreAuthKeySchema, CliPreAuthKeySchema, toPreAuthKey, type ParseContext, type PreAuthKeyJson } from '../schemas.js';
import type { HsPreAuthKey, HsTagOwner, KeyOwner, SyntaxGeneration } from '../types.js';
import { JSON_OUTPUT, reader, withKey, type NewKey, type OpenApiDefinitions, type Request } from './request.js';
import { V026 } from './v026.js';

/** 0.28+: keys are listed all at once and expired by id; `headscale health` exists. */
export class V028 extends V026 {
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
