// "Is my tailnet healthy?": one read-only pass over Headscale, the auth Secret and the
// sidecars, shared by `status` and `doctor`. Few round trips, all concurrent.
import type { Context } from '../context.js';
import { describeIdentity, identityOf, keyOwnerOf, type ServiceIdentity } from '../domain/identity.js';
import { DAY_MS, judgeKey, keyMatches } from '../domain/keys.js';
import type { PolicyReport } from '../domain/policy-verdict.js';
import { describeUnhealthy, findNode, sidecarHealth, type SidecarHealth } from '../domain/sidecars.js';
import { formatVersion, type HsNode, type HsPreAuthKey, type HsUser, type KeyOwner } from '../headscale/types.js';
import { authKeyEntry, magicDnsName, workloadName } from '../names.js';

export type Level = 'ok' | 'warn' | 'error';

export interface ServiceReport {
  service: string;
  /** The service's Headscale user (TAILNET_IDENTITY=user), else null. */
  user: { name: string; exists: boolean } | null;
  /** The tag that owns the service's keys and node (TAILNET_IDENTITY=tag), else null. */
  tag: string | null;
  key: {
    inSecret: boolean;
    acceptedByHeadscale: boolean;
    expiration: string | null;
    daysLeft: number | null;
    level: Level;
    problem: string | null;
  };
  sidecar: SidecarHealth['deployment'];
  node: { id: string; online: boolean; ips: string[]; lastSeen: string | null } | null;
  magicDns: string;
  level: Level;
  problems: string[];
}

export interface HealthReport {
  headscale: { healthy: boolean; version: string | null; error: string | null };
  secret: { name: string; namespace: string; exists: boolean };
  services: ServiceReport[];
  /** The access policy in force (src/domain/policy-verdict.ts), when the command asked for it. */
  policy?: PolicyReport;
  level: Level;
}

const ownerLabel = (id: ServiceIdentity) => (id.kind === 'user' ? id.user : id.tag);

/** The report with the access policy's state; a policy that lacks a needed rule makes it red. */
export function withPolicy(r: HealthReport, policy: PolicyReport): HealthReport {
  return { ...r, policy, level: worst([r.level, policy.level]) };
}

const worst = (levels: Level[]): Level => (levels.includes('error') ? 'error' : levels.includes('warn') ? 'warn' : 'ok');

/** A key is amber (warn, exit 0) within KEY_RENEW_BEFORE of its expiry, red once expired or unusable. */
function keyReport(
  value: string | undefined,
  identity: ServiceIdentity,
  owner: KeyOwner | { missing: string },
  known: HsPreAuthKey[],
  now: Date,
  renew: { text: string; ms: number },
): ServiceReport['key'] {
  if (!value)
    return {
      inSecret: false,
      acceptedByHeadscale: false,
      expiration: null,
      daysLeft: null,
      level: 'error',
      problem: 'no key in the Secret',
    };
  const record = known.find((k) => keyMatches(k, value));
  const verdict = judgeKey(value, 'missing' in owner ? { id: '', name: ownerLabel(identity) } : owner, known, now, 0);
  const expiration = record?.expiration ?? null;
  const daysLeft = expiration ? Math.floor((expiration.getTime() - now.getTime()) / DAY_MS) : null;
  let level: Level = verdict.keep ? 'ok' : 'error';
  let problem = verdict.keep ? null : verdict.reason;
  if ('missing' in owner) [level, problem] = ['error', owner.missing];
  else if (verdict.keep && expiration && expiration.getTime() - now.getTime() < renew.ms) {
    [level, problem] = [
      'warn',
      `the key expires on ${expiration.toISOString().slice(0, 10)} (in ${daysLeft} day(s), within KEY_RENEW_BEFORE=${renew.text}): run june-ts rotate-keys`,
    ];
  }
  return { inSecret: true, acceptedByHeadscale: verdict.keep, expiration: expiration?.toISOString() ?? null, daysLeft, level, problem };
}

export async function collectHealth(ctx: Context): Promise<HealthReport> {
  const hs = await ctx.headscale();
  const kube = await ctx.kube();
  const services = ctx.config.services;
  const ns = ctx.config.platform.namespace;
  const headscale: HealthReport['headscale'] = { healthy: false, version: null, error: null };
  const secretRead = kube.getSecret(ns, ctx.config.authSecretName);
  secretRead.catch(() => undefined); // awaited below, after the Headscale checks
  try {
    await hs.health();
    headscale.version = formatVersion(await hs.version());
    headscale.healthy = true;
  } catch (e) {
    headscale.error = (e as Error).message;
  }
  const secret = await secretRead;
  const identities = services.map((s) => identityOf(s, ctx.config));
  let owners: (KeyOwner | { missing: string })[] = [];
  let keys: HsPreAuthKey[] = [];
  let sidecars: SidecarHealth[];
  if (headscale.healthy) {
    const byUser = identities.some((id) => id.kind === 'user');
    const byTag = identities.some((id) => id.kind === 'tag');
    const [users, tags] = await Promise.all([byUser ? hs.listUsers() : ([] as HsUser[]), byTag ? hs.tagOwnedKeys() : undefined]);
    owners = identities.map((id) => {
      if (id.kind === 'tag' && !tags?.supported)
        return { missing: `Headscale owns keys by tag only from ${tags?.since}: ${id.tag} cannot own this key` };
      return keyOwnerOf(id, users) ?? { missing: `Headscale ${describeIdentity(id)} does not exist` };
    });
    const present = owners.filter((o): o is KeyOwner => !('missing' in o));
    [keys, sidecars] = await Promise.all([
      present.length ? hs.listPreAuthKeys(present) : Promise.resolve([]),
      sidecarHealth(ctx, services),
    ]);
  } else {
    sidecars = await Promise.all(
      services.map(async (service) => {
        const d = await kube.getDeployment(ns, workloadName(service));
        const identity = identityOf(service, ctx.config);
        return { service, identity, deployment: d ? ('ready' as const) : ('missing' as const), node: undefined as HsNode | undefined };
      }),
    );
  }
  const now = new Date();
  const reports = services.map((service, i): ServiceReport => {
    const identity = identities[i]!;
    const owner = owners[i];
    const key = owner
      ? keyReport(secret?.data[authKeyEntry(service)], identity, owner, keys, now, {
          text: ctx.config.keyRenewBefore,
          ms: ctx.config.keyRenewBeforeMs,
        })
      : {
          inSecret: Boolean(secret?.data[authKeyEntry(service)]),
          acceptedByHeadscale: false,
          expiration: null,
          daysLeft: null,
          level: 'error' as Level,
          problem: 'Headscale unreachable: cannot check the key',
        };
    const sc = sidecars[i]!;
    const node = headscale.healthy ? findNode(sc.node ? [sc.node] : [], service, identity) : undefined;
    const problems: string[] = [];
    if (key.problem) problems.push(`key: ${key.problem}`);
    const unhealthy = headscale.healthy ? describeUnhealthy(sc) : sc.deployment === 'missing' ? describeUnhealthy(sc) : undefined;
    if (unhealthy) problems.push(unhealthy.replace(`${workloadName(service)}: `, ''));
    const sidecarLevel: Level = unhealthy ? 'error' : 'ok';
    return {
      service,
      user: identity.kind === 'user' ? { name: identity.user, exists: Boolean(owner && !('missing' in owner)) } : null,
      tag: identity.kind === 'tag' ? identity.tag : null,
      key,
      sidecar: sc.deployment,
      node: node ? { id: node.id, online: node.online, ips: node.ipAddresses, lastSeen: node.lastSeen?.toISOString() ?? null } : null,
      magicDns: magicDnsName(service, ctx.config.tailnetDomain),
      level: worst([key.level, sidecarLevel, headscale.healthy ? 'ok' : 'error']),
      problems,
    };
  });
  return {
    headscale,
    secret: { name: ctx.config.authSecretName, namespace: ns, exists: Boolean(secret) },
    services: reports,
    level: worst([headscale.healthy ? 'ok' : 'error', ...reports.map((r) => r.level)]),
  };
}
