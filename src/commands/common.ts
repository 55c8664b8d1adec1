// What every command shares: global options (zod), the Context factory, and running a
// workflow with its plan output. Loaded only when a command runs (it pulls zod and execa).
import { z } from 'zod';
import { loadConfig, type Config } from '../config/load.js';
import type { Context, WorkflowRun } from '../context.js';
import { InterruptedError, UsageError } from '../errors.js';
import type { HeadscaleClient } from '../headscale/types.js';
import type { HelmClient } from '../helm/helm.js';
import type { KubeClient } from '../kube/types.js';
import { WriteGate, type DryRunMode, type PhasePlan } from '../plan.js';
import { ExecaRunner, type ProcessRunner } from '../process/runner.js';
import { selectPhases, runPhases, type Phase, type SelectOptions } from '../phases/workflow.js';
import type { HostStatus, HostTailscale } from '../tailscale/host.js';
import { Logger } from '../ui/logger.js';
import { renderPlanJson, renderPlanText } from '../ui/plan.js';

export const globalOptionsSchema = z
  .object({
    config: z.string().optional(),
    kubeconfig: z.string().optional(),
    context: z.string().optional(),
    dryRun: z
      .union([z.boolean(), z.string()])
      .optional()
      .transform((v, ctx): DryRunMode => {
        if (v === undefined || v === false) return 'off';
        if (v === true || v === 'static') return 'static';
        if (v === 'live') return 'live';
        ctx.addIssue({ code: 'custom', message: `--dry-run: '${v}' is not a mode — use --dry-run (static, no cluster) or --dry-run=live` });
        return z.NEVER;
      }),
    output: z.enum(['text', 'json'], { message: '--output: must be text or json' }).default('text'),
    verbose: z.boolean().default(false),
    quiet: z.boolean().default(false),
    color: z.boolean().default(true),
    yes: z.boolean().default(false),
  })
  .refine((o) => !(o.verbose && o.quiet), { message: '--verbose and --quiet: choose one' });

export type GlobalOptions = z.output<typeof globalOptionsSchema>;

/** zod-parse command options; every problem becomes one UsageError line. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new UsageError(r.error.issues.map((i) => i.message).join('\n'), { hint: 'see `june-ts <command> --help`' });
  return r.data;
}

export interface Runtime {
  /** For tests: streams, env, runner, signal. */
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
  runner?: ProcessRunner;
  signal?: AbortSignal;
  stdinIsTTY?: boolean;
  confirm?: (question: string) => Promise<boolean>;
}

export function makeLogger(g: GlobalOptions, rt: Runtime): Logger {
  const env = rt.env ?? process.env;
  return new Logger({
    // In a dry run the plan is the output; progress lines would describe writes that did not happen.
    verbosity: g.verbose ? 'verbose' : g.quiet || g.output === 'json' || g.dryRun !== 'off' ? 'quiet' : 'normal',
    color: g.color === false || 'NO_COLOR' in env ? false : undefined,
    stdout: rt.stdout,
    stderr: rt.stderr,
  });
}

class OfflineTailscale implements HostTailscale {
  constructor(private readonly inner: HostTailscale) {}
  async status(): Promise<HostStatus | null> {
    return { backendState: 'NeedsLogin', dnsName: undefined, ips: [], online: false, controlUrl: undefined };
  }
  up(o: Parameters<HostTailscale['up']>[0]): Promise<void> {
    return this.inner.up(o);
  }
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
}

export interface Session {
  ctx: Context;
  /** Runs the exit hooks the phases registered, newest first. */
  close(): Promise<void>;
}

/** The configuration: config file, environment and the global flags that override it. */
export function loadSettings(g: GlobalOptions, rt: Runtime, log: Logger): Config {
  return loadConfig({
    configPath: g.config,
    env: rt.env,
    flags: { KUBECONFIG: g.kubeconfig, KUBE_CONTEXT: g.context },
    warn: (m) => log.warn(m),
  });
}

export function createContext(command: string, g: GlobalOptions, config: Config, rt: Runtime, log: Logger): Session {
  const gate = new WriteGate(g.dryRun);
  const signal = rt.signal ?? new AbortController().signal;
  const runner = rt.runner ?? new ExecaRunner((cmd) => log.debug(`$ ${cmd}`), signal);
  const exits: (() => Promise<void> | void)[] = [];
  const offline = gate.mode === 'static';
  const kube = once(async (): Promise<KubeClient> => {
    if (offline) return new (await import('../kube/offline.js')).OfflineKube(gate);
    const { ClientNodeKube } = await import('../kube/client.js');
    return new ClientNodeKube({
      kubeconfig: config.kube.kubeconfig,
      context: config.kube.context,
      gate,
      signal,
      onRetry: (what, attempt, delayMs, reason) => log.debug(`API ${what}: ${reason}; attempt ${attempt + 1} in ${delayMs} ms`),
    });
  });
  const helm = once(async (): Promise<HelmClient> => {
    const { HelmCli, OfflineHelm } = await import('../helm/helm.js');
    const o = { bin: config.helm, kubeconfig: config.kube.kubeconfig, context: config.kube.context, runner, gate };
    return offline ? new OfflineHelm(o) : new HelmCli(o);
  });
  const headscale = once(async (): Promise<HeadscaleClient> => {
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
      kubectl: { kubectl: config.kube.kubectl, kubeconfig: config.kube.kubeconfig, context: config.kube.context, namespace: config.headscale.namespace },
    });
  });
  const tailscale = once(async (): Promise<HostTailscale> => {
    const { TailscaleCli } = await import('../tailscale/host.js');
    const cli = new TailscaleCli({ bin: config.tailscale.bin, socket: config.tailscale.socket, runner, gate });
    return offline ? new OfflineTailscale(cli) : cli;
  });
  const ctx: Context = {
    command,
    config,
    log,
    gate,
    runner,
    signal,
    kube,
    helm,
    headscale,
    tailscale,
    onExit: (fn) => exits.unshift(fn),
  };
  const close = async () => {
    for (const fn of exits.splice(0)) await fn();
  };
  return { ctx, close };
}

/** Namespace and name of the Lease that keeps two june-ts runs off one cluster at once. */
export const RUN_LOCK = { namespace: 'default', name: 'june-ts-lock', seconds: 60 };

async function takeRunLock(ctx: Context): Promise<void> {
  // Start `helm version` (memoized; preflight reads it) while client-node loads. Its
  // failure is reported by preflight, not here.
  void ctx.helm().then((h) => h.major()).catch(() => undefined);
  const kube = await ctx.kube();
  await kube.serverVersion(); // a clear "cannot reach the API server" before anything else
  const { hostname } = await import('node:os');
  const holder = `${hostname()}/${process.pid}/${ctx.command}`;
  const release = await kube.acquireLease(RUN_LOCK.namespace, RUN_LOCK.name, holder, RUN_LOCK.seconds);
  ctx.onExit(release);
}

/** Select, run (or plan) the phases, print the plan in dry-run, run exit hooks. */
export async function executeWorkflow<D>(
  tree: readonly Phase<WorkflowRun<D>>[],
  { ctx, close }: Session,
  data: D,
  g: GlobalOptions,
  select: SelectOptions,
): Promise<PhasePlan[]> {
  let running: ReadonlySet<string> | undefined;
  const run: WorkflowRun<D> = { ...ctx, data, willRun: (id) => running?.has(id) ?? true };
  const selection = selectPhases(tree, select, run, ctx.command);
  running = new Set(selection.filter((s) => s.status === 'run').map((s) => s.phase.id));
  const log = ctx.log;
  let plans: PhasePlan[] = [];
  try {
    if (ctx.gate.mode === 'off') await takeRunLock(ctx);
    plans = await runPhases(selection, run, ctx.gate, ctx.signal, {
      onStart: (p) => {
        if (!ctx.gate.dryRun) log.info(`${log.c.cyan('▶')} ${p.id}  ${log.c.dim(p.description)}`);
      },
      onDone: (p, ms) => {
        if (!ctx.gate.dryRun) log.success(`${p.id} ${log.c.dim(`(${(ms / 1000).toFixed(1)}s)`)}`);
      },
      onSkip: (p, reason) => {
        if (!ctx.gate.dryRun) log.info(`${log.c.dim(`○ ${p.id} skipped: ${reason}`)}`);
      },
    });
  } catch (e) {
    if (ctx.signal.aborted && !(e instanceof InterruptedError)) throw new InterruptedError();
    throw e;
  } finally {
    await close();
  }
  if (ctx.gate.dryRun) {
    const doc = { command: ctx.command, mode: ctx.gate.mode, phases: plans };
    log.print(g.output === 'json' ? renderPlanJson(doc) : renderPlanText(doc, log));
  }
  return plans;
}
