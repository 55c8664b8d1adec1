// What makes a sidecar healthy: its Deployment carries the tailscale container, every pod's
// sidecar is Ready, and its node is registered and online in Headscale. Read-only.
import type { Config } from '../config/load.js';
import type { HeadscaleClient, HsNode } from '../headscale/types.js';
import type { KubeClient } from '../kube/types.js';
import { SIDECAR_CONTAINER, tailnetHostname, workloadName } from '../names.js';
import { describeIdentity, identityOf, nodeHasIdentity, type ServiceIdentity } from './identity.js';

/** The service's node: its hostname, owned by its identity (an online one first). */
export function findNode(nodes: readonly HsNode[], service: string, identity: ServiceIdentity): HsNode | undefined {
  const host = tailnetHostname(service);
  const mine = nodes.filter((n) => nodeHasIdentity(n, identity) && (n.givenName === host || n.name === host));
  return mine.find((n) => n.online) ?? mine[0];
}

export interface SidecarHealth {
  service: string;
  identity: ServiceIdentity;
  deployment: 'missing' | 'no-sidecar' | 'rolling' | 'ready';
  node: HsNode | undefined;
}

/** The seams sidecarHealth reads, and nothing more. */
export interface SidecarReads {
  config: Pick<Config, 'platform' | 'tailnetIdentity'>;
  kube(): Promise<Pick<KubeClient, 'getDeployment' | 'listPods'>>;
  headscale(): Promise<Pick<HeadscaleClient, 'listNodes'>>;
}

/** One read-only pass: each service's Deployment, its sidecar containers and its node. */
export async function sidecarHealth(ctx: SidecarReads, services: readonly string[]): Promise<SidecarHealth[]> {
  const kube = await ctx.kube();
  const hs = await ctx.headscale();
  const ns = ctx.config.platform.namespace;
  const [nodes, deployments] = await Promise.all([
    hs.listNodes(),
    Promise.all(services.map((s) => kube.getDeployment(ns, workloadName(s)))),
  ]);
  return Promise.all(
    services.map(async (service, i) => {
      const d = deployments[i];
      let deployment: SidecarHealth['deployment'] = 'ready';
      if (!d) deployment = 'missing';
      else if (!d.containers.includes(SIDECAR_CONTAINER)) deployment = 'no-sidecar';
      else {
        const selector = Object.entries(d.podLabels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        const pods = (await kube.listPods(ns, selector)).filter((p) => !p.deletionTimestamp);
        const ready = pods.filter((p) => p.containers.find((c) => c.name === SIDECAR_CONTAINER)?.ready);
        if (ready.length < d.replicas || d.updatedReplicas < d.replicas) deployment = 'rolling';
      }
      const identity = identityOf(service, ctx.config);
      return { service, identity, deployment, node: findNode(nodes, service, identity) };
    }),
  );
}

export function describeUnhealthy(h: SidecarHealth): string | undefined {
  const name = workloadName(h.service);
  if (h.deployment === 'missing') return `${name}: Deployment not found (is services.${h.service}.enabled=true in the release?)`;
  if (h.deployment === 'no-sidecar') return `${name}: Deployment has no ${SIDECAR_CONTAINER} container (is tailscale.enabled=true?)`;
  if (h.deployment === 'rolling') return `${name}: ${SIDECAR_CONTAINER} container not Ready`;
  if (!h.node) return `${name}: no node registered in Headscale under ${describeIdentity(h.identity)}`;
  if (!h.node.online) return `${name}: node ${h.node.givenName} (id ${h.node.id}) is offline`;
  return undefined;
}
