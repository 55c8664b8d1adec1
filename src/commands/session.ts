// The configuration a command runs with, and the Context built from it.
import { loadConfig, type Config } from '../config/load.js';
import type { Context } from '../context.js';
import { WriteGate } from '../write-gate.js';
import { ExecaRunner } from '../process/runner.js';
import type { Logger } from '../ui/logger.js';
import type { GlobalOptions } from './options.js';
import type { Runtime } from './runtime.js';
import { makeSeams } from './seams.js';

/** The configuration: config file, environment and the global flags that override it. */
export function loadSettings(g: GlobalOptions, rt: Runtime, log: Logger): Config {
  return loadConfig({
    configPath: g.config,
    env: rt.env,
    flags: { KUBECONFIG: g.kubeconfig, KUBE_CONTEXT: g.context },
    warn: (m) => log.warn(m),
  });
}

export interface Session {
  ctx: Context;
  /** Runs the exit hooks the phases registered, newest first. */
  close(): Promise<void>;
}

export function createContext(command: string, g: GlobalOptions, config: Config, rt: Runtime, log: Logger): Session {
  const gate = new WriteGate(g.dryRun);
  const signal = rt.signal ?? new AbortController().signal;
  const runner = rt.runner ?? new ExecaRunner((cmd) => log.debug(`$ ${cmd}`), signal);
  const exits: (() => Promise<void> | void)[] = [];
  const ctx: Context = {
    command,
    config,
    log,
    gate,
    runner,
    signal,
    ...makeSeams(config, gate, runner, signal, log),
    onExit: (fn) => exits.unshift(fn),
  };
  const close = async () => {
    for (const fn of exits.splice(0)) await fn();
  };
  return { ctx, close };
}
