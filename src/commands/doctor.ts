// june-ts doctor: the spec's Troubleshooting section as checks, each with the fix printed.
// `--pre` runs before install: binaries, versions, cluster reachable, permissions.
import { z } from 'zod';
import type { Context } from '../context.js';
import { DegradedError, JuneError, PreflightError } from '../errors.js';
import { collectHealth } from '../health/report.js';
import { stuckRelease } from '../domain/release.js';
import {
  HEADSCALE_CONFIGMAP,
  HEADSCALE_DEPLOYMENT,
  SIDECAR_CONTAINER,
  authKeyEntry,
  sidecarServiceAccount,
  stateSecretName,
  workloadName,
} from '../names.js';
import { globalOptionsSchema, parseOptions } from './options.js';
import { makeLogger, type Runtime } from './runtime.js';
import { createContext, loadSettings } from './session.js';

export const doctorOptionsSchema = globalOptionsSchema.and(z.object({ pre: z.boolean().default(false) }));

export interface Check {
  name: string;
  ok: boolean;
  level: 'error' | 'warn';
  detail: string;
  fix?: string;
}

function kubectlArgs(ctx: Context, ...args: string[]): string[] {
  const k = ctx.config.kube;
  return [...(k.kubeconfig ? ['--kubeconfig', k.kubeconfig] : []), ...(k.context ? ['--context', k.context] : []), ...args];
}

async function kubectl(ctx: Context, ...args: string[]) {
  return ctx.runner.run(ctx.config.kube.kubectl, kubectlArgs(ctx, ...args), { allowFailure: true });
}

async function canI(ctx: Context, verb: string, resource: string, namespace: string | undefined, as?: string): Promise<boolean> {
  const res = await kubectl(ctx, 'auth', 'can-i', verb, resource, ...(namespace ? ['-n', namespace] : []), ...(as ? [`--as=${as}`] : []));
  return res.stdout.trim() === 'yes';
}

async function preChecks(ctx: Context): Promise<Check[]> {
  const checks: Check[] = [];
  const { config } = ctx;
  const binary = async (name: string, bin: string, args: string[], required: boolean, fix: string) => {
    try {
      const r = await ctx.runner.run(bin, args, { allowFailure: true });
      const v = (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
      checks.push({ name: `${name} installed`, ok: r.exitCode === 0, level: required ? 'error' : 'warn', detail: r.exitCode === 0 ? v : `exit ${r.exitCode}: ${v}`, fix });
    } catch (e) {
      checks.push({ name: `${name} installed`, ok: false, level: required ? 'error' : 'warn', detail: (e as Error).message, fix });
    }
  };
  await Promise.all([
    binary('kubectl', config.kube.kubectl, ['version', '--client', '-o', 'json'], true, 'install kubectl (or set KUBECTL)'),
    binary('helm', config.helm, ['version', '--short'], true, 'install Helm 3 or 4 (or set HELM)'),
    binary('tailscale', config.tailscale.bin, ['version'], false, 'install Tailscale for 11.5-tailnet-host, or skip that phase with --skip 11.5-tailnet-host'),
  ]);
  const helmCheck = checks.find((c) => c.name === 'helm installed');
  if (helmCheck?.ok && !/^v[34]\./.test(helmCheck.detail)) {
    Object.assign(helmCheck, { ok: false, detail: `unsupported Helm ${helmCheck.detail}`, fix: 'install Helm 3 or Helm 4' });
  }
  const kube = await ctx.kube();
  try {
    checks.push({ name: 'cluster reachable', ok: true, level: 'error', detail: await kube.serverVersion() });
  } catch (e) {
    checks.push({ name: 'cluster reachable', ok: false, level: 'error', detail: (e as Error).message, fix: (e as JuneError).hint });
    return checks;
  }
  const hsNs = config.headscale.namespace;
  const ns = config.platform.namespace;
  const needed: [string, string, string | undefined][] = [
    ['create', 'namespaces', undefined],
    ['create', 'deployments.apps', hsNs],
    ['create', 'configmaps', hsNs],
    ['create', 'persistentvolumeclaims', hsNs],
    ['create', 'pods/exec', hsNs],
    ['create', 'secrets', ns],
    ['patch', 'secrets', ns],
    ['delete', 'secrets', ns],
    ['create', 'deployments.apps', ns],
    ['patch', 'deployments.apps', ns],
    ['create', 'roles.rbac.authorization.k8s.io', ns],
    ['create', 'rolebindings.rbac.authorization.k8s.io', ns],
    ['create', 'serviceaccounts', ns],
    ['create', 'ingresses.networking.k8s.io', ns],
    ['create', 'leases.coordination.k8s.io', 'default'],
  ];
  const answers = await Promise.all(needed.map(([verb, res, n]) => canI(ctx, verb, res, n)));
  const missing = needed.filter((_, i) => !answers[i]).map(([v, r, n]) => `${v} ${r}${n ? ` in ${n}` : ''}`);
  checks.push({
    name: 'permissions for install',
    ok: missing.length === 0,
    level: 'error',
    detail: missing.length ? `missing: ${missing.join('; ')}` : `${needed.length} permissions present`,
    fix: 'grant these to your kubeconfig user (see "RBAC for operators" in the README)',
  });
  return checks;
}

async function postChecks(ctx: Context): Promise<Check[]> {
  const { config } = ctx;
  const ns = config.platform.namespace;
  const checks: Check[] = [];
  const report = await collectHealth(ctx);
  checks.push({
    name: 'Headscale reachable',
    ok: report.headscale.healthy,
    level: 'error',
    detail: report.headscale.healthy ? `${report.headscale.version}` : report.headscale.error ?? 'unreachable',
    fix: `kubectl -n ${config.headscale.namespace} get pods; kubectl -n ${config.headscale.namespace} logs deployment/${HEADSCALE_DEPLOYMENT} -c headscale`,
  });
  checks.push({
    name: `Secret ${ns}/${config.authSecretName}`,
    ok: report.secret.exists,
    level: 'error',
    detail: report.secret.exists ? 'present' : 'missing: pods with sidecars fail with CreateContainerConfigError',
    fix: 'june-ts deploy-sidecars',
  });

  // Key names the chart reads must exist in the Secret.
  const helm = await ctx.helm();
  const kube = await ctx.kube();
  const releases = [config.headscale, config.platform];
  const [values, secret, ...current] = await Promise.all([
    helm.values(config.platform.release, ns),
    kube.getSecret(ns, config.authSecretName),
    ...releases.map((r) => helm.release(r.release, r.namespace)),
  ]);
  for (const [i, r] of releases.entries()) {
    const stuck = stuckRelease(current[i] ?? null, r);
    checks.push({
      name: `Helm release ${r.namespace}/${r.release} settled`,
      ok: !stuck,
      level: 'error',
      detail: stuck ? stuck.message : current[i] ? `revision ${current[i].revision} ${current[i].status}` : 'not installed',
      ...(stuck?.hint ? { fix: stuck.hint } : {}),
    });
  }
  const refs = ((values?.tailscale as { authKeyRefs?: Record<string, string> } | undefined)?.authKeyRefs ?? {}) as Record<string, string>;
  const mismatched = config.services.filter((s) => (refs[s] ?? authKeyEntry(s)) !== authKeyEntry(s) || (secret && !(authKeyEntry(s) in secret.data)));
  if (secret) {
    checks.push({
      name: 'Secret keys match the chart\'s authKeyRefs',
      ok: mismatched.length === 0,
      level: 'error',
      detail: mismatched.length ? mismatched.map((s) => `${s}: chart reads '${refs[s] ?? authKeyEntry(s)}', Secret has ${Object.keys(secret.data).join(', ') || 'no keys'}`).join('; ') : 'all present',
      fix: 'june-ts deploy-sidecars (writes the entries and the matching authKeyRefs)',
    });
  }

  const version = report.headscale.healthy ? await (await ctx.headscale()).version() : undefined;
  for (const s of report.services) {
    const value = secret?.data[authKeyEntry(s.service)];
    if (version && value) {
      const wantHs = version.generation === 'v028';
      const formatOk = wantHs ? value.startsWith('hskey-auth-') : !value.startsWith('hskey-');
      checks.push({
        name: `${s.service}: key format`,
        ok: formatOk,
        level: 'error',
        detail: formatOk ? 'matches the Headscale version' : `Headscale ${version.raw} ${wantHs ? 'issues hskey-auth-… keys' : 'does not issue hskey- keys'}; this key comes from another version or server`,
        fix: 'june-ts deploy-sidecars (re-mints keys Headscale does not know)',
      });
    }
    if (report.headscale.healthy) {
      checks.push({
        name: `${s.service}: key valid`,
        ok: s.key.level !== 'error',
        level: 'error',
        detail: s.key.problem ?? `expires ${s.key.expiration?.slice(0, 10) ?? 'never'}`,
        // expiring soon: rotate without downtime; expired, missing or unknown: deploy-sidecars re-mints
        fix: s.key.daysLeft !== null && s.key.daysLeft >= 0 && s.key.daysLeft < 30 ? 'june-ts rotate-keys' : 'june-ts deploy-sidecars',
      });
      checks.push({
        name: `${s.service}: node registered and online`,
        ok: Boolean(s.node?.online),
        level: 'error',
        detail: s.node ? `${s.node.online ? 'online' : 'offline'} (id ${s.node.id}, last seen ${s.node.lastSeen ?? 'never'})` : `no node named ${workloadName(s.service)}`,
        fix: `kubectl -n ${ns} logs deployment/${workloadName(s.service)} -c ${SIDECAR_CONTAINER}`,
      });
    }
    if (s.sidecar === 'rolling' || s.sidecar === 'no-sidecar' || s.sidecar === 'missing') {
      checks.push({
        name: `${s.service}: sidecar running`,
        ok: false,
        level: 'error',
        detail: `${s.sidecar}${await sidecarEvidence(ctx, s.service)}`,
        fix: s.sidecar === 'rolling' ? `kubectl -n ${ns} describe pod -l app.kubernetes.io/name=${workloadName(s.service)}` : 'june-ts deploy-sidecars',
      });
    }
    // RBAC: the sidecar's ServiceAccount must manage its own state Secret.
    if (s.sidecar !== 'missing' && s.sidecar !== 'no-sidecar') {
      const sa = `system:serviceaccount:${ns}:${sidecarServiceAccount(s.service)}`;
      const [get, update, create] = await Promise.all([
        canI(ctx, 'get', `secrets/${stateSecretName(s.service)}`, ns, sa),
        canI(ctx, 'update', `secrets/${stateSecretName(s.service)}`, ns, sa),
        canI(ctx, 'create', 'secrets', ns, sa),
      ]);
      checks.push({
        name: `${s.service}: RBAC for the state Secret`,
        ok: get && update && create,
        level: 'error',
        detail: get && update && create ? `${sidecarServiceAccount(s.service)} can get/update ${stateSecretName(s.service)}` : `${sidecarServiceAccount(s.service)} lacks ${[!get && 'get', !update && 'update', !create && 'create'].filter(Boolean).join(', ')}`,
        fix: 'helm upgrade the platform chart (it ships the Role and RoleBinding); check nothing removed them',
      });
    }
  }

  // MagicDNS base domain in headscale-config must match TAILNET_DOMAIN.
  const cm = await kube.getConfigMap(config.headscale.namespace, HEADSCALE_CONFIGMAP);
  if (cm) {
    const { parse } = await import('yaml');
    let base: string | undefined;
    try {
      const doc = parse(cm['config.yaml'] ?? '') as { dns?: { base_domain?: string } } | null;
      base = doc?.dns?.base_domain;
    } catch {
      base = undefined;
    }
    checks.push({
      name: 'MagicDNS base domain',
      ok: base === config.tailnetDomain,
      level: 'error',
      detail: base === config.tailnetDomain ? base : `${HEADSCALE_CONFIGMAP} has dns.base_domain=${base ?? '(none)'}, config has TAILNET_DOMAIN=${config.tailnetDomain}`,
      fix: 'set TAILNET_DOMAIN to match, or re-run `june-ts install --only 11-headscale` to update the Headscale config',
    });
  }
  return checks;
}

async function sidecarEvidence(ctx: Context, service: string): Promise<string> {
  const ns = ctx.config.platform.namespace;
  const [events, logs] = await Promise.all([
    kubectl(ctx, '-n', ns, 'get', 'events', '--field-selector', 'type=Warning', '-o', 'jsonpath={range .items[*]}{.involvedObject.name}: {.reason}: {.message}{"\\n"}{end}'),
    kubectl(ctx, '-n', ns, 'logs', `deployment/${workloadName(service)}`, '-c', SIDECAR_CONTAINER, '--tail=5'),
  ]);
  const ev = events.stdout.split('\n').filter((l) => l.startsWith(workloadName(service))).slice(-3);
  const lg = logs.exitCode === 0 ? logs.stdout.trim().split('\n').slice(-5) : [];
  return [ev.length ? `\n      events: ${ev.join('\n              ')}` : '', lg.length ? `\n      log: ${lg.join('\n           ')}` : ''].join('');
}

export async function run(raw: unknown, rt: Runtime = {}): Promise<void> {
  const o = parseOptions(doctorOptionsSchema, raw);
  const log = makeLogger(o, rt);
  const g = { ...o, dryRun: 'off' as const };
  const { ctx } = createContext('doctor', g, loadSettings(g, rt, log), rt, log);
  const checks = o.pre ? await preChecks(ctx) : await postChecks(ctx);
  if (o.output === 'json') log.print(JSON.stringify({ pre: o.pre, checks }, null, 2));
  else {
    for (const c of checks) {
      const mark = c.ok ? log.c.green('✓') : c.level === 'warn' ? log.c.yellow('!') : log.c.red('✗');
      // one line per check; sidecar evidence (events, log lines) is indented on purpose
      const detail = c.detail.includes('\n      ') ? c.detail : c.detail.replace(/\s*\n\s*/g, ' | ');
      log.print(`${mark} ${c.name}: ${detail}`);
      if (!c.ok && c.fix) log.print(`    fix: ${c.fix}`);
    }
  }
  const failed = checks.filter((c) => !c.ok && c.level === 'error');
  if (failed.length) {
    const Err = o.pre ? PreflightError : DegradedError;
    throw new Err(`${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}`, { hint: 'apply the fixes printed above' });
  }
}
