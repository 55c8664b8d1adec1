// One Context per run: config, logger, the seams (created lazily, so a static plan never
// loads @kubernetes/client-node), dry-run gate, abort signal, and the data phases hand on.
import type { Config } from './config/load.js';
import type { HeadscaleClient, HsPreAuthKey, HsUser } from './headscale/types.js';
import type { HelmClient } from './helm/helm.js';
import type { KubeClient, SecretInfo } from './kube/types.js';
import type { WriteGate } from './plan.js';
import type { ProcessRunner } from './process/runner.js';
import type { HostTailscale } from './tailscale/host.js';
import type { Logger } from './ui/logger.js';

export interface ServiceKey {
  service: string;
  user: HsUser;
  /** The key value (secret). */
  key: string;
  /** Headscale's id of the key when known. */
  keyId: string | undefined;
  expiration: Date | undefined;
  minted: boolean;
  /** Why a new key was minted (for the report); undefined when kept. */
  reason?: string;
}

/** Data the phases of one run pass on to each other. */
export interface RunState {
  /** Will the phase with this full id run in this invocation (after --skip/--only/config)? */
  willRun?: (phaseId: string) => boolean;
  users?: Map<string, HsUser>;
  keys?: Map<string, ServiceKey>;
  /** The auth Secret as it was before this run wrote it (for restore). */
  previousSecret?: SecretInfo | null;
  /** Keys that were current before a rotation (to expire afterwards). */
  oldKeys?: HsPreAuthKey[];
  /** How many objects a cleanup changed or removed (0: nothing was installed). */
  cleaned?: number;
}

export interface CommandOptions {
  /** rotate-keys --service, and others that narrow to some services. */
  services?: string[];
  purge?: boolean;
  all?: boolean;
  forceReauth?: boolean;
}

export interface Context {
  command: string;
  config: Config;
  log: Logger;
  gate: WriteGate;
  runner: ProcessRunner;
  signal: AbortSignal;
  options: CommandOptions;
  state: RunState;
  kube(): Promise<KubeClient>;
  helm(): Promise<HelmClient>;
  headscale(): Promise<HeadscaleClient>;
  tailscale(): Promise<HostTailscale>;
  /** Runs on exit, newest first (temp files, leases). */
  onExit(fn: () => Promise<void> | void): void;
}

/** Services this run acts on: the configured list, narrowed by --service. */
export function targetServices(ctx: Pick<Context, 'config' | 'options'>): string[] {
  return ctx.options.services?.length ? ctx.options.services : ctx.config.services;
}
