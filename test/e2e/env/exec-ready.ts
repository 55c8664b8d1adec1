// kwok-controller watches ClusterExec through an informer that may start before the CRD is
// established and then backs off; until it has synced, `kubectl exec` answers "no exec found
// for container". The environment waits for it before handing the cluster to tests.
import type { Cluster } from './kwok.js';
import { waitFor } from './util.js';

/** Probes with a throwaway pod in kube-system until `kubectl exec` works. */
export async function waitExecReady(cluster: Cluster): Promise<void> {
  const ns = 'kube-system';
  const items = [
    {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'ClusterExec',
      metadata: { name: 'e2e-exec-probe' },
      spec: { selector: { matchNamespaces: [ns], matchNames: ['e2e-exec-probe'] }, execs: [{ containers: ['probe'], local: {} }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'e2e-exec-probe', namespace: ns },
      spec: { containers: [{ name: 'probe', image: 'registry.invalid/probe:1' }], terminationGracePeriodSeconds: 0 },
    },
  ];
  // right after start the `default` ServiceAccount may not exist yet: "pods ... is forbidden:
  // error looking up service account kube-system/default" -> retry until it does
  await waitFor(
    'probe pod created',
    async () => {
      await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 300 },
  );
  await waitFor(
    'kwok exec (ClusterExec informer synced)',
    async () => {
      await cluster.kubectl(['-n', ns, 'exec', 'e2e-exec-probe', '-c', 'probe', '--', 'true'], { timeout: 10_000 });
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  await cluster.kubectl(['delete', '-f', '-', '--wait=false'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
}
