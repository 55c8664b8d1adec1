// One Context per run: config, logger, the seams (created lazily, so a static plan never
// loads @kubernetes/client-node), dry-run gate and abort signal. What the phases of one
// workflow hand on to each other is that workflow's own typed data (WorkflowRun.data).
import type { Config } from './config/load.js';
import type { HeadscaleClient } from './headscale/types.js';
import type { HelmClient } from './helm/types.js';
import type { Kubectl } from './kube/kubectl.js';
import type { KubeClient } from './kube/types.js';
import type { WriteGate } from './write-gate.js';
import type { ProcessRunner } from './process/runner.js';
import type { HostTailscale } from './tailscale/host.js';
import type { Logger } from './ui/logger.js';

export interface Context {
  command: string;
  config: Config;
  log: Logger;
  gate: WriteGate;
  runner: ProcessRunner;
  signal: AbortSignal;
  kube(): Promise<KubeClient>;
  kubectl(): Promise<Kubectl>;
  helm(): Promise<HelmClient>;
  headscale(): Promise<HeadscaleClient>;
  tailscale(): Promise<HostTailscale>;
  /** Runs on exit, newest first (temp files, leases). */
  onExit(fn: () => Promise<void> | void): void;
}

/**
 * What a phase of a workflow receives: the run's Context plus the workflow's data `D`,
 * settled by the command before the run starts and handed on between phases. Each phase
 * module declares the part of `D` it reads, so a workflow's data is the union of its phases'.
 */
export interface WorkflowRun<D> extends Context {
  readonly data: D;
  /** Will the phase with this full id run in this invocation (after --skip/--only/config)? */
  willRun(phaseId: string): boolean;
}
