// doctor --pre, before install: the binaries and their versions, the cluster, and the
// permissions install needs.
import { join } from 'node:path';
import { z } from 'zod';
import type { Context } from '../context.js';
import { sidecarKernelMode, sidecarPodSecurity } from '../domain/pod-security.js';
import { mergeValues } from '../domain/release.js';
import { readValuesFiles } from '../helm/values-files.js';
import { PreflightError, type JuneError } from '../errors.js';
import type { Check } from './check.js';

const firstLine = (text: string) => text.trim().split('\n')[0] ?? '';

const kubectlVersionSchema = z.object({ clientVersion: z.object({ gitVersion: z.string() }) });

/** `kubectl version --client -o json` → `v1.33.9`; anything else → its first line. */
export function kubectlVersion(stdout: string): string {
  try {
    return kubectlVersionSchema.parse(JSON.parse(stdout)).clientVersion.gitVersion;
  } catch {
    return firstLine(stdout);
  }
}

async function binaryCheck(
  ctx: Context,
  name: string,
  bin: string,
  args: string[],
  required: boolean,
  fix: string,
  version: (stdout: string) => string = firstLine,
): Promise<Check> {
  const level = required ? 'error' : 'warn';
  try {
    const r = await ctx.runner.run(bin, args, { allowFailure: true });
    const detail = r.exitCode === 0 ? version(r.stdout || r.stderr) : `exit ${r.exitCode}: ${firstLine(r.stdout || r.stderr)}`;
    return { name: `${name} installed`, ok: r.exitCode === 0, level, detail, fix };
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

/**
 * Would Pod Security admission of the platform namespace admit the sidecar pods? The mode
 * comes from the values the next deploy would use: the chart's defaults, the release's
 * values and PLATFORM_VALUES.
 */
async function podSecurityCheck(ctx: Context): Promise<Check> {
  const { platform } = ctx.config;
  const name = `Pod Security of ${platform.namespace} admits the sidecars`;
  try {
    // both seams first: a read started before an await would reject with no handler yet
    const [kube, helm] = await Promise.all([ctx.kube(), ctx.helm()]);
    const [labels, release, defaults, files] = await Promise.all([
      kube.namespaceLabels(platform.namespace),
      helm.values(platform.release, platform.namespace),
      readValuesFiles([join(platform.chart, 'values.yaml')]).catch(() => [{}]),
      readValuesFiles(platform.valuesFiles),
    ]);
    const values = files.reduce(mergeValues, mergeValues(defaults[0] ?? {}, release ?? {}));
    return { name, level: 'error', ...sidecarPodSecurity(platform.namespace, labels, sidecarKernelMode(values)) };
  } catch (e) {
    return {
      name,
      ok: false,
      level: 'warn',
      detail: `cannot tell: ${(e as Error).message}`,
      fix: 'fix the error above and re-run doctor --pre',
    };
  }
}

export async function preChecks(ctx: Context): Promise<Check[]> {
  const { config } = ctx;
  const checks = await Promise.all([
    binaryCheck(
      ctx,
      'kubectl',
      config.kube.kubectl,
      ['version', '--client', '-o', 'json'],
      true,
      'install kubectl (or set KUBECTL)',
      kubectlVersion,
    ),
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
  try {
    const kube = await ctx.kube();
    checks.push({ name: 'cluster reachable', ok: true, level: 'error', detail: await kube.serverVersion() });
  } catch (e) {
    // no kubeconfig is a failed check like an unreachable server; a bad --context stays a usage error
    if (!(e instanceof PreflightError)) throw e;
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
  checks.push(await podSecurityCheck(ctx));
  return checks;
}
