// Who a service is on the tailnet: the principal its keys and node belong to. With
// TAILNET_IDENTITY=user (the default) each service has its own Headscale user `june-<svc>`;
// with `tag` (Headscale 0.28+) its keys and node carry `tag:june-<svc>` and no user exists.
// Everything that mints keys, finds nodes or writes access rules reads it from here. Pure.
import type { Config } from '../config/load.js';
import { PreflightError } from '../errors.js';
import { formatVersion, type HeadscaleVersion, type HsNode, type HsUser, type KeyOwner, type TagOwnedKeys } from '../headscale/types.js';
import { headscaleUser, serviceTag } from '../names.js';

export type ServiceIdentity = { kind: 'user'; user: string } | { kind: 'tag'; tag: string };

export type IdentityConfig = Pick<Config, 'tailnetIdentity'>;

export function identityOf(service: string, config: IdentityConfig): ServiceIdentity {
  return config.tailnetIdentity === 'tag' ? { kind: 'tag', tag: serviceTag(service) } : { kind: 'user', user: headscaleUser(service) };
}

/** `user june-idp` or `tag tag:june-idp`, for messages. */
export function describeIdentity(identity: ServiceIdentity): string {
  return identity.kind === 'tag' ? `tag ${identity.tag}` : `user ${identity.user}`;
}

/**
 * The tagOwners a policy must declare for the services' tags: Headscale refuses a policy that
 * names an undeclared tag. Nobody owns them (an empty list): june-ts mints tagged keys as
 * the admin, so no user or device needs the right to put these tags on itself.
 */
export function tagOwnersFor(services: readonly string[], config: IdentityConfig): Record<string, string[]> {
  const tags = services.map((s) => identityOf(s, config)).flatMap((id) => (id.kind === 'tag' ? [id.tag] : []));
  return Object.fromEntries(tags.map((t) => [t, []]));
}

/** The Headscale users the services need (none with tag identities). */
export function usersNeeded(services: readonly string[], config: IdentityConfig): string[] {
  return services.map((s) => identityOf(s, config)).flatMap((id) => (id.kind === 'user' ? [id.user] : []));
}

/** The owner to mint a service's keys for: its tag, or its user as Headscale listed it. */
export function keyOwnerOf(identity: ServiceIdentity, users: readonly HsUser[]): KeyOwner | undefined {
  if (identity.kind === 'tag') return { tag: identity.tag };
  return users.find((u) => u.name === identity.user);
}

/** Is `node` owned by this identity? A tagged node (0.28+) belongs to its tags, never to a user. */
export function nodeHasIdentity(node: HsNode, identity: ServiceIdentity): boolean {
  if (identity.kind === 'tag') return node.tags?.includes(identity.tag) ?? false;
  return node.user === identity.user && !node.tags?.length;
}

/**
 * TAILNET_IDENTITY=tag on a Headscale that cannot own keys by tag: refused before anything
 * is written, naming the version and what to do instead.
 */
export function assertIdentitySupported(config: IdentityConfig, support: TagOwnedKeys, version: HeadscaleVersion): void {
  if (config.tailnetIdentity !== 'tag' || support.supported) return;
  throw new PreflightError(
    `TAILNET_IDENTITY=tag needs Headscale ${support.since} (keys and nodes owned by a tag); this Headscale is ${formatVersion(version)}, which owns keys only by user`,
    {
      hint: `set TAILNET_IDENTITY=user (one Headscale user per service), or upgrade Headscale to ${support.since} one minor release at a time`,
    },
  );
}

/** Both identities a service may have had, whichever TAILNET_IDENTITY was in force: cleanup removes either. */
export function everyIdentityOf(service: string): ServiceIdentity[] {
  return [identityOf(service, { tailnetIdentity: 'user' }), identityOf(service, { tailnetIdentity: 'tag' })];
}
