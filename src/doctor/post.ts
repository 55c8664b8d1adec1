// doctor after install: the spec's troubleshooting cases as checks, built on the same
// health report as `status`, each with the command that fixes it.
import type { Config } from '../config/load.js';
import type { Context } from '../context.js';
import { chartExtraArgs, extraArgsDrift, podExtraArgs } from '../domain/extra-args.js';
import { stuckRelease } from '../domain/release.js';
import { minorsBehind, plainVersion, planUpgrade } from '../domain/headscale-upgrade.js';
import type { PolicyReport } from '../domain/policy-verdict.js';
import { HEADSCALE_DEFAULT_VERSION, type HeadscaleVersion } from '../headscale/types.js';
import { collectHealth, type HealthReport, type ServiceReport } from '../health/report.js';
import type { ReleaseInfo } from '../helm/types.js';
import type { SecretInfo } from '../kube/types.js';
import { parsePrefs } from '../tailscale/schemas.js';
import {
  HEADSCALE_CONFIGMAP,
  HEADSCALE_DEPLOYMENT,
  SIDECAR_CONTAINER,
  authKeyEntry,
  sidecarServiceAccount,
  stateSecretName,
  workloadName,
} from '../names.js';
import type { Check } from './check.js';

function headscaleAndSecretChecks(report: HealthReport, config: Config): Check[] {
  const ns = config.platform.namespace;
  return [
    {
      name: 'Headscale reachable',
      ok: report.headscale.healthy,
      level: 'error',
      detail: report.headscale.healthy ? `${report.headscale.version}` : (report.headscale.error ?? 'unreachable'),
      fix: `kubectl -n ${config.headscale.namespace} get pods; kubectl -n ${config.headscale.namespace} logs deployment/${HEADSCALE_DEPLOYMENT} -c headscale`,
    },
    {
      name: `Secret ${ns}/${config.authSecretName}`,
      ok: report.secret.exists,
      level: 'error',
      detail: report.secret.exists ? 'present' : 'missing: pods with sidecars fail with CreateContainerConfigError',
      fix: 'june-ts deploy-sidecars',
    },
  ];
}

/** Headscale more than one minor behind what june-ts deploys: an upgrade must step through each minor. */
export function versionCheck(version: HeadscaleVersion, config: Config): Check {
  const running = plainVersion(version);
  const target = config.headscale.version ?? HEADSCALE_DEFAULT_VERSION;
  const behind = version.source === 'reported' ? minorsBehind(running, target) : 0;
  let path = '';
  try {
    const plan = planUpgrade(running, target);
    if (plan.kind === 'upgrade') path = ` (${plan.steps.join(' → ')})`;
  } catch {
    // a path june-ts cannot take: the detail still says how far behind
  }
  return {
    name: 'Headscale version',
    ok: behind <= 1,
    level: 'warn',
    detail:
      behind <= 1
        ? `${version.source === 'reported' ? running : version.raw}; june-ts deploys ${target}`
        : `Headscale ${running} is ${behind === Infinity ? 'a major version' : `${behind} minor versions`} behind ${target}, the version june-ts deploys: Headscale 0.29+ refuses to start after a skipped minor`,
    fix: `june-ts install --only 11-headscale: upgrades one minor at a time${path}, each step after a backup (--backup-dir)`,
  };
}

function releaseCheck(r: { release: string; namespace: string }, current: ReleaseInfo | null): Check {
  const stuck = stuckRelease(current, r);
  return {
    name: `Helm release ${r.namespace}/${r.release} settled`,
    ok: !stuck,
    level: 'error',
    detail: stuck ? stuck.message : current ? `revision ${current.revision} ${current.status}` : 'not installed',
    ...(stuck?.hint ? { fix: stuck.hint } : {}),
  };
}

/** The Secret entry names the chart reads (its authKeyRefs) must exist in the Secret. */
function authKeyRefsCheck(values: Record<string, unknown> | null, secret: SecretInfo, config: Config): Check {
  const refs = ((values?.tailscale as { authKeyRefs?: Record<string, string> } | undefined)?.authKeyRefs ?? {}) as Record<string, string>;
  const mismatched = config.services.filter((s) => (refs[s] ?? authKeyEntry(s)) !== authKeyEntry(s) || !(authKeyEntry(s) in secret.data));
  return {
    name: "Secret keys match the chart's authKeyRefs",
    ok: mismatched.length === 0,
    level: 'error',
    detail: mismatched.length
      ? mismatched
          .map((s) => `${s}: chart reads '${refs[s] ?? authKeyEntry(s)}', Secret has ${Object.keys(secret.data).join(', ') || 'no keys'}`)
          .join('; ')
      : 'all present',
    fix: 'june-ts deploy-sidecars (writes the entries and the matching authKeyRefs)',
  };
}

function keyFormatCheck(service: string, value: string, version: HeadscaleVersion): Check {
  const wantHs = version.generation === 'v028';
  const formatOk = wantHs ? value.startsWith('hskey-auth-') : !value.startsWith('hskey-');
  return {
    name: `${service}: key format`,
    ok: formatOk,
    level: 'error',
    detail: formatOk
      ? 'matches the Headscale version'
      : `Headscale ${version.raw} ${wantHs ? 'issues hskey-auth-… keys' : 'does not issue hskey- keys'}; this key comes from another version or server`,
    fix: 'june-ts deploy-sidecars (re-mints keys Headscale does not know)',
  };
}

function keyAndNodeChecks(s: ServiceReport, ns: string): Check[] {
  const expiringSoon = s.key.level === 'warn';
  return [
    {
      name: `${s.service}: key valid`,
      ok: s.key.level !== 'error',
      level: 'error',
      detail: s.key.problem ?? `expires ${s.key.expiration?.slice(0, 10) ?? 'never'}`,
      fix: expiringSoon ? 'june-ts rotate-keys' : 'june-ts deploy-sidecars',
    },
    {
      name: `${s.service}: node registered and online`,
      ok: Boolean(s.node?.online),
      level: 'error',
      detail: s.node
        ? `${s.node.online ? 'online' : 'offline'} (id ${s.node.id}, last seen ${s.node.lastSeen ?? 'never'})`
        : `no node named ${workloadName(s.service)}`,
      fix: `kubectl -n ${ns} logs deployment/${workloadName(s.service)} -c ${SIDECAR_CONTAINER}`,
    },
  ];
}

/** A sidecar that is not running, with its recent warning events and log lines. */
async function sidecarRunningCheck(ctx: Context, s: ServiceReport): Promise<Check> {
  const ns = ctx.config.platform.namespace;
  const kubectl = await ctx.kubectl();
  const name = workloadName(s.service);
  const [events, logs] = await Promise.all([kubectl.warningEvents(ns), kubectl.logs(ns, name, SIDECAR_CONTAINER, 5)]);
  const ev = events.filter((l) => l.startsWith(name)).slice(-3);
  const lg = logs.slice(-5);
  const evidence = [
    ev.length ? `\n      events: ${ev.join('\n              ')}` : '',
    lg.length ? `\n      log: ${lg.join('\n           ')}` : '',
  ].join('');
  return {
    name: `${s.service}: sidecar running`,
    ok: false,
    level: 'error',
    detail: `${s.sidecar}${evidence}`,
    fix: s.sidecar === 'rolling' ? `kubectl -n ${ns} describe pod -l app.kubernetes.io/name=${name}` : 'june-ts deploy-sidecars',
  };
}

/**
 * The sidecar's ServiceAccount must read and write its own state Secret (the chart creates
 * the Secret, so the Role has no `create`).
 */
async function stateSecretRbacCheck(ctx: Context, service: string): Promise<Check> {
  const ns = ctx.config.platform.namespace;
  const kubectl = await ctx.kubectl();
  const sa = sidecarServiceAccount(service);
  const as = `system:serviceaccount:${ns}:${sa}`;
  const verbs = ['get', 'update', 'patch'] as const;
  const allowed = await Promise.all(verbs.map((v) => kubectl.canI(v, `secrets/${stateSecretName(service)}`, ns, as)));
  const missing = verbs.filter((_, i) => !allowed[i]);
  return {
    name: `${service}: RBAC for the state Secret`,
    ok: !missing.length,
    level: 'error',
    detail: missing.length
      ? `${sa} lacks ${missing.join(', ')} on ${stateSecretName(service)}`
      : `${sa} can get/update/patch ${stateSecretName(service)}`,
    fix: 'helm upgrade the platform chart (it ships the Role and RoleBinding); check nothing removed them',
  };
}

/**
 * tailscale.extraArgs of the release against the Deployment's TS_EXTRA_ARGS and the prefs the
 * running node has. With tailscale.authOnce a node with state keeps the settings it first
 * logged in with, so a changed extraArgs reaches the pod spec but not the node.
 */
async function extraArgsCheck(ctx: Context, service: string, values: Record<string, unknown> | null): Promise<Check> {
  const ns = ctx.config.platform.namespace;
  const name = workloadName(service);
  const check = { name: `${service}: sidecar runs the chart's tailscale.extraArgs`, level: 'warn' as const };
  const fix =
    `empty the state Secret ${stateSecretName(service)} and restart the Deployment (kubectl -n ${ns} rollout restart deployment/${name}), ` +
    'or roll out once with tailscale.authOnce=false while the pre-auth key is valid (see "Ports and tailscale.extraArgs" in the README)';
  const want = chartExtraArgs(values);
  const template = await (await ctx.kube()).getPodTemplate(ns, name);
  const sidecar = [...(template?.initContainers ?? []), ...(template?.containers ?? [])].find((c) => c.name === SIDECAR_CONTAINER);
  const env = sidecar?.env?.find((e) => e.name === 'TS_EXTRA_ARGS')?.value ?? '';
  const inPod = podExtraArgs(env);
  if (inPod.join(' ') !== want.join(' ')) {
    return {
      ...check,
      ok: false,
      detail: `the release's values say [${want.join(' ')}], Deployment ${name} starts the sidecar with TS_EXTRA_ARGS [${inPod.join(' ')}]`,
      fix: 'june-ts deploy-sidecars (or helm upgrade the platform chart); check nothing edited the Deployment',
    };
  }
  if (!want.length) return { ...check, ok: true, detail: 'no extraArgs' };
  const read = await (await ctx.kubectl()).sidecarPrefs(ns, name, SIDECAR_CONTAINER);
  if (!read.ok) return { ...check, ok: false, detail: `cannot read the node's settings (tailscale debug prefs): ${read.text}`, fix };
  const { differing, unchecked } = extraArgsDrift(want, parsePrefs(read.text));
  const notCompared = unchecked.length ? `; not compared: ${unchecked.join(' ')}` : '';
  return differing.length
    ? { ...check, ok: false, detail: `the node does not run with ${differing.join(', ')}${notCompared}`, fix }
    : { ...check, ok: true, detail: `[${want.join(' ')}] applied${notCompared}` };
}

async function serviceChecks(
  ctx: Context,
  s: ServiceReport,
  healthy: boolean,
  version: HeadscaleVersion | undefined,
  secret: SecretInfo | null,
  values: Record<string, unknown> | null,
): Promise<Check[]> {
  const checks: Check[] = [];
  const value = secret?.data[authKeyEntry(s.service)];
  if (version && value) checks.push(keyFormatCheck(s.service, value, version));
  if (healthy) checks.push(...keyAndNodeChecks(s, ctx.config.platform.namespace));
  if (s.sidecar === 'rolling' || s.sidecar === 'no-sidecar' || s.sidecar === 'missing') checks.push(await sidecarRunningCheck(ctx, s));
  if (s.sidecar !== 'missing' && s.sidecar !== 'no-sidecar') {
    checks.push(await stateSecretRbacCheck(ctx, s.service));
    checks.push(await extraArgsCheck(ctx, s.service, values));
  }
  return checks;
}

/** The MagicDNS base domain in headscale-config must match TAILNET_DOMAIN. */
async function magicDnsCheck(cm: Record<string, string>, config: Config): Promise<Check> {
  const { parse } = await import('yaml');
  let base: string | undefined;
  try {
    const doc = parse(cm['config.yaml'] ?? '') as { dns?: { base_domain?: string } } | null;
    base = doc?.dns?.base_domain;
  } catch {
    base = undefined;
  }
  return {
    name: 'MagicDNS base domain',
    ok: base === config.tailnetDomain,
    level: 'error',
    detail:
      base === config.tailnetDomain
        ? base
        : `${HEADSCALE_CONFIGMAP} has dns.base_domain=${base ?? '(none)'}, config has TAILNET_DOMAIN=${config.tailnetDomain}`,
    fix: 'set TAILNET_DOMAIN to match, or re-run `june-ts install --only 11-headscale` to update the Headscale config',
  };
}

export async function postChecks(ctx: Context): Promise<Check[]> {
  const { config } = ctx;
  const ns = config.platform.namespace;
  const report = await collectHealth(ctx);
  const checks = headscaleAndSecretChecks(report, config);
  const [helm, kube] = await Promise.all([ctx.helm(), ctx.kube()]);
  const releases = [config.headscale, config.platform];
  const [values, secret, ...current] = await Promise.all([
    helm.values(config.platform.release, ns),
    kube.getSecret(ns, config.authSecretName),
    ...releases.map((r) => helm.release(r.release, r.namespace)),
  ]);
  releases.forEach((r, i) => checks.push(releaseCheck(r, current[i] ?? null)));
  if (secret) checks.push(authKeyRefsCheck(values, secret, config));
  const version = report.headscale.healthy ? await (await ctx.headscale()).version() : undefined;
  if (version) checks.push(versionCheck(version, config));
  for (const s of report.services) checks.push(...(await serviceChecks(ctx, s, report.headscale.healthy, version, secret, values)));
  const cm = await kube.getConfigMap(config.headscale.namespace, HEADSCALE_CONFIGMAP);
  if (cm) checks.push(await magicDnsCheck(cm, config));
  return checks;
}

/** The access policy in force grants what the config needs; names each missing rule. */
export function policyCheck(p: PolicyReport): Check {
  const name = 'access policy';
  if (p.state === 'off') return { name, ok: true, level: 'warn', detail: 'TAILNET_POLICY=off: june-ts does not manage it' };
  if (p.current) return { name, ok: true, level: 'warn', detail: "june-ts's policy, with the rules the config asks for" };
  if (p.missing.length)
    return {
      name,
      ok: false,
      level: 'error',
      detail: `the policy in force (${p.state}) does not grant:\n${p.missing.map((r) => `      ${r}`).join('\n')}`,
      fix:
        p.state === 'owned'
          ? 'run `june-ts deploy-sidecars` to write the rules the config asks for'
          : 'add the rules above to your policy, or let june-ts manage it: `TAILNET_POLICY=adopt june-ts deploy-sidecars` (save yours first with `headscale policy get`)',
    };
  return {
    name,
    ok: p.level === 'ok',
    level: 'warn',
    detail: p.problem ?? `${p.state}: grants what the config needs`,
    fix: p.level === 'ok' ? undefined : "run `june-ts deploy-sidecars` to write june-ts's access policy",
  };
}
