// One error hierarchy; src/cli.ts is the only place that turns these into exit codes.

export const ExitCode = {
  ok: 0,
  external: 1,
  preflight: 2,
  usage: 3,
  degraded: 4,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class JuneError extends Error {
  abstract readonly exitCode: ExitCodeValue;
  /** What the user should do about it, printed under the message. */
  readonly hint: string | undefined;
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Invalid config, flags or phase selection. Nothing was changed. */
export class UsageError extends JuneError {
  readonly exitCode = ExitCode.usage;
}

/** Config validation: one line per field. */
export class ConfigError extends UsageError {
  constructor(readonly problems: readonly string[], options: { hint?: string } = {}) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
  }
}

/** A check that must pass before anything is changed did not. */
export class PreflightError extends JuneError {
  readonly exitCode = ExitCode.preflight;
}

/**
 * The Kubernetes API server could not be reached, even after bounded retries (mid-run:
 * down for longer than the retry budget). Exit 2 like an unreachable cluster at preflight:
 * nothing to fix in june-ts's input; a re-run once the server answers picks up.
 */
export class ApiUnreachableError extends JuneError {
  readonly exitCode = ExitCode.preflight;
}

/** An external command or API call failed. `command` is already redacted. */
export class ExternalError extends JuneError {
  readonly exitCode = ExitCode.external;
  constructor(
    message: string,
    readonly details: { command?: string; stderr?: string; exitCode?: number } = {},
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** Something is unhealthy (status, verify). */
export class DegradedError extends JuneError {
  readonly exitCode = ExitCode.degraded;
}

/** SIGINT/SIGTERM. */
export class InterruptedError extends JuneError {
  readonly exitCode = ExitCode.interrupted;
  constructor() {
    super('interrupted');
  }
}

/** A failure inside a phase, carrying the phase id. Keeps the cause's exit code. */
export class PhaseError extends JuneError {
  readonly exitCode: ExitCodeValue;
  constructor(readonly phaseId: string, override readonly cause: JuneError) {
    super(`phase ${phaseId}: ${cause.message}`, { hint: cause.hint, cause });
    this.exitCode = cause.exitCode;
  }
}

/** A defect in june-ts itself; the only kind that prints a stack trace. */
export class BugError extends Error {
  readonly exitCode = ExitCode.external;
}

export function isJuneError(e: unknown): e is JuneError {
  return e instanceof JuneError;
}
