// What the process gives a command (streams, environment, signal), replaceable by tests,
// and the logger made from it and the global options.
import type { ProcessRunner } from '../process/runner.js';
import { Logger } from '../ui/logger.js';
import type { GlobalOptions } from './options.js';

export interface Runtime {
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
  // In a dry run the plan is the output; progress lines would describe writes that did not happen.
  const verbosity = g.verbose ? 'verbose' : g.quiet || g.output === 'json' || g.dryRun !== 'off' ? 'quiet' : 'normal';
  const stderr = rt.stderr ?? process.stderr;
  return new Logger({
    verbosity,
    // the live checklist: on a terminal, not in CI (as ora and is-interactive judge it), not with -v/-q/-o json
    live: verbosity === 'normal' && Boolean(stderr.isTTY) && env.TERM !== 'dumb' && !('CI' in env),
    color: g.color === false || 'NO_COLOR' in env ? false : undefined,
    stdout: rt.stdout,
    stderr: rt.stderr,
  });
}
