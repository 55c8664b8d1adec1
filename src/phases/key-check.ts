// rotate/prove: each new key is proven by a short-lived key-check pod in the platform
// namespace that runs the service's own sidecar container with in-memory state (see
// domain/key-check.ts). The service's pods are not touched. Key-check pods and the nodes they
// registered are removed whatever the outcome. Where no check pod can run, Headscale's own
// record of the key is the (weaker) proof, and the output says so.
import type { Context } from '../context.js';
import { identityOf } from '../domain/identity.js';
import { judgeKey, type ServiceKey } from '../domain/keys.js';
import { KEY_CHECK_LABEL, judgeKeyCheck, keyCheckNodes, keyCheckPod, type KeyCheckVerdict } from '../domain/key-check.js';
import { ExternalError } from '../errors.js';
import type { PodInfo } from '../kube/types.js';
import { SIDECAR_CONTAINER, workloadName } from '../names.js';

/** How long a key check may take: registration is seconds; image pulls can take longer. */
export const KEY_CHECK_TIMEOUT_MS = 120_000;
const POLL_MS = 1000;

export type ProofKind = 'pod' | 'headscale';

export interface KeyProof {
  service: string;
  kind: ProofKind;
  /** For a pod proof: the node the check registered (removed again). */
  nodeId?: string;
  /** Why the weaker proof was used. */
  note?: string;
}

type ProveCtx = Pick<Context, 'config' | 'log' | 'gate' | 'signal' | 'kube' | 'headscale'>;

/** Removes key-check pods and key-check nodes of these services (this run's or a crashed run's). */
export async function removeKeyChecks(ctx: ProveCtx, services: readonly string[]): Promise<void> {
  const kube = await ctx.kube();
  const hs = await ctx.headscale();
  const ns = ctx.config.platform.namespace;
  await Promise.all(services.map((s) => kube.deletePods(ns, `${KEY_CHECK_LABEL}=${s}`)));
  const nodes = await hs.listNodes();
  await Promise.all(services.flatMap((s) => keyCheckNodes(nodes, s, identityOf(s, ctx.config))).map((n) => hs.deleteNode(n.id)));
}

/** Headscale's record of each key: it exists, belongs to the service's user or tag, is reusable and unexpired. */
async function headscaleView(ctx: ProveCtx, keys: readonly ServiceKey[], note: string): Promise<KeyProof[]> {
  const hs = await ctx.headscale();
  const known = await hs.listPreAuthKeys(keys.map((k) => k.owner));
  const now = new Date();
  const bad = keys
    .map((k) => ({ k, v: judgeKey(k.key, k.owner, known, now, 0) }))
    .filter((x) => !x.v.keep)
    .map((x) => `${x.k.service}: ${x.v.keep ? '' : x.v.reason}`);
  if (bad.length) throw new ExternalError(`new key(s) not accepted by Headscale:\n    ${bad.join('\n    ')}`);
  return keys.map((k) => ({ service: k.service, kind: 'headscale' as const, note }));
}

function podProblem(pod: PodInfo | null): string | undefined {
  if (!pod) return 'the key-check pod disappeared';
  const c = pod.containers.find((x) => x.name === SIDECAR_CONTAINER);
  if (c?.terminated) return `the key-check container exited (${c.terminated.reason ?? 'exit code ' + c.terminated.exitCode})`;
  if (pod.phase === 'Failed') return `the key-check pod failed${pod.reason ? ` (${pod.reason})` : ''}`;
  if (c?.waitingReason && /Err|Invalid|BackOff/.test(c.waitingReason)) return `the key-check container cannot start (${c.waitingReason})`;
  return undefined;
}

async function failureDetail(ctx: ProveCtx, podName: string | undefined): Promise<string> {
  if (!podName) return '';
  const kube = await ctx.kube();
  const tail = await kube.podLogTail(ctx.config.platform.namespace, podName, SIDECAR_CONTAINER, 5).catch(() => '');
  const lines = tail.trim() ? tail.trim().split('\n') : [];
  return lines.length ? `\n      last lines of its log:\n${lines.map((l) => `        ${l}`).join('\n')}` : '';
}

/**
 * Proves every new key. Throws naming each service whose key did not register; the caller
 * (the rotate workflow) then restores the Secret, so the old keys stay in use.
 */
export async function proveKeys(ctx: ProveCtx, keys: readonly ServiceKey[]): Promise<KeyProof[]> {
  if (!keys.length) return [];
  const kube = await ctx.kube();
  const ns = ctx.config.platform.namespace;
  const services = keys.map((k) => k.service);
  const timeoutMs = Math.min(ctx.config.waitTimeoutMs, KEY_CHECK_TIMEOUT_MS);
  const templates = await Promise.all(services.map((s) => kube.getPodTemplate(ns, workloadName(s))));
  const pods = services.map((s, i) => (templates[i] ? keyCheckPod(s, ns, templates[i]!, timeoutMs / 1000 + 30) : undefined));
  const withPod = keys.filter((_, i) => pods[i]);
  const withoutPod = keys.filter((_, i) => !pods[i]);
  if (ctx.gate.dryRun) {
    for (const pod of pods) if (pod) await kube.createPod(pod);
    ctx.gate.record({
      kind: 'note',
      text: `wait until each service's key-check pod registers a node with its new key, then delete the pods and their nodes (${services.join(', ')}; a service without a sidecar template gets only Headscale's record of its key checked)`,
    });
    return keys.map((k, i) => ({ service: k.service, kind: pods[i] ? ('pod' as const) : ('headscale' as const) }));
  }
  const proofs: KeyProof[] = [];
  if (withoutPod.length) {
    const names = withoutPod.map((k) => workloadName(k.service)).join(', ');
    ctx.log.warn(
      `no sidecar to copy for ${names} (Deployment missing or without a ${SIDECAR_CONTAINER} container): checking only Headscale's record of the new key, a weaker proof than a registration`,
    );
    proofs.push(...(await headscaleView(ctx, withoutPod, 'no sidecar template: Headscale record only')));
  }
  if (!withPod.length) return proofs;
  await removeKeyChecks(
    ctx,
    withPod.map((k) => k.service),
  );
  const names = new Map<string, string>();
  try {
    await Promise.all(
      keys.map(async (k, i) => {
        const pod = pods[i];
        if (pod) names.set(k.service, await kube.createPod(pod));
      }),
    );
    const verdicts = await waitForKeyChecks(ctx, withPod, names, timeoutMs);
    const failed = [...verdicts.entries()].filter(([, v]) => v.state !== 'proven');
    if (failed.length) {
      const lines = await Promise.all(
        failed.map(async ([svc, v]) => {
          const why = v.state === 'pending' ? `${v.why} after ${Math.round(timeoutMs / 1000)}s` : v.state === 'failed' ? v.why : '';
          return `${svc}: ${why}${await failureDetail(ctx, names.get(svc))}`;
        }),
      );
      throw new ExternalError(
        `the new key could not register a node:\n    ${lines.join('\n    ')}`,
        {},
        {
          hint: `nothing of the services was changed and the old keys stay valid; check that the cluster reaches ${ctx.config.headscale.url} and see the key-check pod's log above`,
        },
      );
    }
    for (const [service, v] of verdicts) if (v.state === 'proven') proofs.push({ service, kind: 'pod', nodeId: v.node.id });
    return proofs;
  } finally {
    await removeKeyChecks(
      ctx,
      withPod.map((k) => k.service),
    ).catch((e: Error) =>
      ctx.log.warn(
        `could not remove the key-check pods or nodes: ${e.message} (delete pods labelled ${KEY_CHECK_LABEL} in ${ns} and nodes named *-keycheck)`,
      ),
    );
  }
}

async function waitForKeyChecks(
  ctx: ProveCtx,
  keys: readonly ServiceKey[],
  podNames: ReadonlyMap<string, string>,
  timeoutMs: number,
): Promise<Map<string, KeyCheckVerdict>> {
  const kube = await ctx.kube();
  const hs = await ctx.headscale();
  const ns = ctx.config.platform.namespace;
  const deadline = Date.now() + timeoutMs;
  const verdicts = new Map<string, KeyCheckVerdict>();
  for (;;) {
    const pending = keys.filter((k) => (verdicts.get(k.service)?.state ?? 'pending') === 'pending');
    const nodes = await hs.listNodes();
    await Promise.all(
      pending.map(async (k) => {
        let v = judgeKeyCheck(nodes, k.service, identityOf(k.service, ctx.config), k.keyId);
        if (v.state === 'pending') {
          const problem = podProblem(await kube.getPod(ns, podNames.get(k.service)!));
          if (problem) v = { state: 'failed', why: problem };
        }
        verdicts.set(k.service, v);
      }),
    );
    const open = keys.filter((k) => verdicts.get(k.service)!.state === 'pending');
    if (!open.length || Date.now() > deadline || ctx.signal.aborted) return verdicts;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
