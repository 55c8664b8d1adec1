// Which implementation of each seam a run gets: the real one, or in a static dry-run its
// offline twin. Each is loaded and made on first use, so a static plan never loads
// @kubernetes/client-node and `status` never loads helm's code.
import type { Config } from '../config/load.js';
import type { Context } from '../context.js';
import type { WriteGate } from '../write-gate.js';
import type { ProcessRunner } from '../process/runner.js';
import type { Logger } from '../ui/logger.js';
import { once } from '../util/concurrency.js';

export type Seams = Pick<Context, 'kube' | 'kubectl' | 'helm' | 'headscale' | 'tailscale'>;

export function makeSeams(config: Config, gate: WriteGate, runner: ProcessRunner, signal: AbortSignal, log: Logger): Seams {
  const offline = gate.mode === 'static';
  // every retry (an API call's or a read-only command's) is printed under --verbose, and
  // Ctrl-C ends the wait between attempts
  const onRetry = (what: string, attempt: number, delayMs: number, reason: string) =>
    log.debug(`API ${what}: ${reason}; attempt ${attempt + 1} in ${delayMs} ms`);
  return {
    kube: once(async () => {
      if (offline) return new (await import('../kube/offline.js')).OfflineKube(gate);
      const { ClientNodeKube } = await import('../kube/client.js');
      return new ClientNodeKube({
        kubeconfig: config.kube.kubeconfig,
        context: config.kube.context,
        gate,
        signal,
        onRetry,
        onWait: (text) => log.waiting(text),
      });
    }),
    kubectl: once(async () => {
      const { KubectlCli } = await import('../kube/kubectl.js');
      return new KubectlCli({
        bin: config.kube.kubectl,
        kubeconfig: config.kube.kubeconfig,
        context: config.kube.context,
        runner,
        retry: { signal, onRetry },
      });
    }),
    helm: once(async () => {
      const o = {
        bin: config.helm,
        kubeconfig: config.kube.kubeconfig,
        context: config.kube.context,
        runner,
        gate,
        retry: { signal, onRetry },
      };
      if (offline) return new (await import('../helm/offline.js')).OfflineHelm(o);
      return new (await import('../helm/helm.js')).HelmCli(o);
    }),
    headscale: once(async () => {
      // the static plan needs neither transport nor their zod schemas: load only the offline client
      if (offline) return new (await import('../headscale/offline.js')).OfflineHeadscale(gate);
      const { createHeadscaleClient } = await import('../headscale/index.js');
      if (config.headscale.transport === 'api') {
        return createHeadscaleClient({ transport: 'api', gate, url: config.headscale.apiUrl, apiKey: config.headscale.apiKey! });
      }
      return createHeadscaleClient({
        transport: 'exec',
        runner,
        gate,
        kubectl: {
          kubectl: config.kube.kubectl,
          kubeconfig: config.kube.kubeconfig,
          context: config.kube.context,
          namespace: config.headscale.namespace,
        },
      });
    }),
    tailscale: once(async () => {
      const { TailscaleCli } = await import('../tailscale/host.js');
      const cli = new TailscaleCli({ bin: config.tailscale.bin, socket: config.tailscale.socket, runner, gate });
      return offline ? new (await import('../tailscale/offline.js')).OfflineTailscale(cli) : cli;
    }),
  };
}
