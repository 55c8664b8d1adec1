// Headscale as the headscale chart deploys it (namespace `headscale`, Deployment `headscale`),
// for startEnv({ headscaleServer: 'chart' }): nothing runs until a test installs the chart;
// the env's kubelet runs the pod and its Service proxy serves the URL; the CLI is
// `kubectl exec` into that pod.
import type { StandaloneHeadscale } from './headscale.js';
import { run } from './util.js';

/** What startEnv needs of a Headscale, wherever it runs. */
export type EnvHeadscale = Pick<
  StandaloneHeadscale,
  'version' | 'url' | 'apiUrl' | 'apiKey' | 'configPath' | 'socket' | 'dir' | 'cli' | 'start' | 'stop' | 'destroy'
> & {
  /** 'chart': values (YAML) a test passes to the headscale chart here */
  chartValues?: string;
};

export async function chartHeadscale({
  version,
  port,
  kubectl,
  kubeconfig,
}: {
  version: string;
  /** the Service's port on 127.0.0.1 (the env's Service proxy listens there) */
  port: number;
  kubectl: string;
  /** the cluster's kubeconfig, known once the cluster runs */
  kubeconfig: () => string;
}): Promise<EnvHeadscale> {
  const url = `http://127.0.0.1:${port}`;
  const notHere = async () => {
    throw new Error(
      "env.headscale.start/stop: Headscale runs in the chart's pod here (headscaleServer: 'chart'); scale or delete it with kubectl",
    );
  };
  return {
    version,
    url,
    apiUrl: `${url}/api/v1`,
    apiKey: '',
    configPath: '/etc/headscale/config.yaml',
    socket: '/var/run/headscale/headscale.sock',
    dir: '',
    async cli(args) {
      const argv = [
        '--kubeconfig',
        kubeconfig(),
        '-n',
        'headscale',
        'exec',
        'deployment/headscale',
        '-c',
        'headscale',
        '--',
        'headscale',
        ...args,
      ];
      return (await run(kubectl, argv, { timeout: 30_000 })).stdout;
    },
    // What a test passes to the chart here: the env's version as the image tag, the embedded
    // DERP server instead of downloading Tailscale's DERP map (no internet), and a startup
    // probe that looks every second (the chart's 5 s would add seconds to every rollout).
    chartValues: [
      'image:',
      `  tag: "${version.replace(/^v/, '')}"`,
      'headscale:',
      '  derp:',
      '    server:',
      '      enabled: true',
      '    urls: []',
      '    autoUpdateEnabled: false',
      'startupProbe:',
      '  periodSeconds: 1',
      '',
    ].join('\n'),
    start: notHere,
    stop: notHere,
    destroy: async () => {},
  };
}
