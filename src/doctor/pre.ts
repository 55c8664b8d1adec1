// doctor --pre, before install: the binaries and their versions, the cluster, and the
// permissions install needs.
import type { Context } from '../context.js';
import type { JuneError } from '../errors.js';
import type { Check } from './check.js';

async function binaryCheck(ctx: Context, name: string, bin: string, args: string[], required: boolean, fix: string): Promise<Check> {
  const level = required ? 'error' : 'warn';
  try {
    const r = await ctx.runner.run(bin, args, { allowFailure: true });
    const v = (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
    return { name: `${name} installed`, ok: r.exitCode === 0, level, detail: r.exitCode === 0 ? v : `exit ${r.exitCode}: ${v}`, fix };
  } catch (e) {
    return { name: `${name} installed`, ok: false, level, detail: (e as Error).message, fix };
  }
}

/** What install creates, and where: [verb, resource, namespace]. */
function installPermissions(ctx: Context): [string, string, string | undefined][] {
  const hsNs = ctx.config.headscale.namespace;
  const ns = ctx.config.platform.namespace;
  return [
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
}

export async function preChecks(ctx: Context): Promise<Check[]> {
  const { config } = ctx;
  const checks = await Promise.all([
    binaryCheck(ctx, 'kubectl', config.kube.kubectl, ['version', '--client', '-o', 'json'], true, 'install kubectl (or set KUBECTL)'),
    binaryCheck(ctx, 'helm', config.helm, ['version', '--short'], true, 'install Helm 3 or 4 (or set HELM)'),
    binaryCheck(
      ctx,
      'tailscale',
      config.tailscale.bin,
      ['version'],
      false,
      'install Tailscale for 11.5-tailnet-host, or skip that phase with --skip 11.5-tailnet-host',
    ),
  ]);
  const helmCheck = checks[1]!;
  if (helmCheck.ok && !/^v[34]\./.test(helmCheck.detail)) {
    Object.assign(helmCheck, { ok: false, detail: `unsupported Helm ${helmCheck.detail}`, fix: 'install Helm 3 or Helm 4' });
  }
  const kube = await ctx.kube();
  try {
    checks.push({ name: 'cluster reachable', ok: true, level: 'error', detail: await kube.serverVersion() });
  } catch (e) {
    checks.push({ name: 'cluster reachable', ok: false, level: 'error', detail: (e as Error).message, fix: (e as JuneError).hint });
    return checks;
  }
  const kubectl = await ctx.kubectl();
  const needed = installPermissions(ctx);
  const answers = await Promise.all(needed.map(([verb, res, n]) => kubectl.canI(verb, res, n)));
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
