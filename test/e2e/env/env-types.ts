// The environment's public shape: what startEnv takes and what a test gets back.
import type { HostStatus, CurlResult, LoadOptions, LoadRun } from './host.js';
import type { KubeletView } from './kubelet-view.js';
import type { ToolChoice } from './tools.js';
import type { RunOptions as ProcessRunOptions } from './util.js';

export type { ContainerInfo, SidecarInfo } from './kubelet-view.js';
export type { ExecResult } from './netns.js';
export type { TailscaleStatus } from './pod-io.js';
export type { CurlResult as HostCurlResult, UrlLoad as HostUrlLoad } from './host.js';

export interface StartEnvOptions extends ToolChoice {
  /** Cluster name (kwok), default e2e<pid> */
  name?: string;
  /** State root (default: a fresh mkdtemp under os.tmpdir(); removed by stop()) */
  stateDir?: string;
  /** Logs dir (default: $JUNE_TS_CACHE/logs/env/<name>; kept after stop()) */
  logsDir?: string;
  /**
   * Run pods that have a `tailscale` container (real containerboot, per-pod namespaces,
   * probes), default true. false: kwok's own stages, pods roll out but nothing joins (benchmarks).
   */
  sidecars?: boolean;
  /**
   * 'process' (default): the env's own `headscale serve` on 127.0.0.1 (an existing external server).
   * 'chart': nothing runs until the headscale chart is installed; its pod runs the real
   * `headscale serve` of the image tag's version (the env's kubelet), and `headscale.url` is
   * the Service/Ingress address (the env's Service proxy to that pod).
   */
  headscaleServer?: 'process' | 'chart';
}

/** Options of env.kubectl / helm / tailscale (env is merged over the environment's). */
export type RunOptions = Pick<ProcessRunOptions, 'input' | 'timeout' | 'cwd' | 'env'>;

export interface E2EEnv {
  name: string;
  /** state root (temp dir) */
  root: string;
  /** for kubectl/helm/@kubernetes/client-node */
  kubeconfig: string;
  context: string;
  /** first on env.PATH: kubectl, helm (chosen major), headscale (chosen version), tailscale, tailscaled, kwokctl */
  binDir: string;
  /** env for child processes: PATH, KUBECONFIG, HELM_*_HOME (isolated), TS_NO_LOGS_NO_SUPPORT, TS_DEBUG_USE_DERP_HTTP */
  env: Record<string, string>;
  helmMajor: 3 | 4;
  tools: Record<string, string>;
  versions: Record<string, string> & { headscale: string };
  headscale: {
    /** where the server runs: the env's own process, or the chart's pod (see StartEnvOptions) */
    server: 'process' | 'chart';
    /** 'chart': values (YAML) a test passes to the headscale chart here (image tag = version, embedded DERP, 1 s startup probe) */
    chartValues: string;
    version: string;
    /** server_url, e.g. http://127.0.0.1:PORT (MagicDNS base domain tail.june.test) */
    url: string;
    /** url + /api/v1 (REST; Authorization: Bearer apiKey) */
    apiUrl: string;
    apiKey: string;
    configPath: string;
    /** unix socket of the server (the CLI uses it via the config) */
    socket: string;
    /** runs the real headscale CLI (`headscale -c config …`; 'chart': `kubectl exec deployment/headscale`), resolves with stdout */
    cli(args: string[]): Promise<string>;
    /** 'process' only (the chart's pod is stopped with kubectl) */
    stop(): Promise<void>;
    start(): Promise<void>;
  };
  /**
   * The kube-apiserver alone (etcd, controller-manager, scheduler and kwok keep running).
   * stop() SIGKILLs it and waits until it is gone (connections then get ECONNREFUSED);
   * start() runs `kwokctl start cluster` (starts only components that are not running: same
   * port, flags and certificates) and resolves once /readyz answers ok; restart() = both.
   */
  apiserver: {
    /** https://127.0.0.1:PORT */
    url: string;
    /** pid of the running kube-apiserver, undefined while stopped */
    pid(): number | undefined;
    stop(): Promise<void>;
    start(): Promise<void>;
    restart(): Promise<void>;
  };
  /** the pods the environment's kubelet runs (pods.ts; kubelet-view.ts documents each call) */
  sidecars: KubeletView;
  /** the phase-11.5 host (host.ts): kernel-mode tailscaled with TUN and MagicDNS in its own sandbox, not logged in (11.5 joins it) */
  host: {
    /** tailscaled's LocalAPI socket (TAILSCALE_SOCKET for june-ts) */
    socket: string;
    /** pid holding the host sandbox's namespaces (`nsenter -t <pid> -n -m curl …`) */
    pid: number;
    cli(args: string[], o?: { timeoutMs?: number }): Promise<string>;
    status(): Promise<HostStatus>;
    /** curl inside the host's sandbox (its resolver is tailscaled's MagicDNS once joined) */
    curl(url: string, o?: { timeoutMs?: number; args?: string[] }): Promise<CurlResult>;
    /** one request per URL every intervalMs from inside the host's sandbox, bounded by maxMs/maxRequests */
    loadLoop(urls: string[], o: LoadOptions): LoadRun;
    resolvConf(): Promise<string>;
  };
  /** kubectl / helm of the chosen major with env applied; resolve with stdout */
  kubectl(args: string[], o?: RunOptions): Promise<string>;
  helm(args: string[], o?: RunOptions): Promise<string>;
  /** `tailscale --socket=<socket> …` (e.g. a sidecar's socket from sidecars.socketFor) */
  tailscale(socket: string, args: string[], o?: RunOptions): Promise<string>;
  logsDir: string;
  /** wall time of startEnv in ms */
  startMs: number;
  /** tears everything down (kwokctl delete cluster, kills daemons), removes state; keeps logsDir */
  stop(): Promise<void>;
}
