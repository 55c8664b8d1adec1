// The one seam through which every external command runs.
// Secrets go through `input` (stdin) or files, never argv; failures become ExternalError
// with the command line and stderr redacted.

import { ExternalError, InterruptedError, PreflightError } from '../errors.js';
import { redact } from '../ui/redact.js';

export interface RunOptions {
  /** Written to the process's stdin. The place for secrets. */
  input?: string;
  /** Extra environment, merged over process.env. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Do not throw on a non-zero exit; the caller inspects exitCode. */
  allowFailure?: boolean;
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ProcessRunner {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

export function formatCommand(file: string, args: readonly string[]): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return redact([file, ...args].map(quote).join(' '));
}

/** Listener told of every command started (--verbose prints them). */
export type CommandListener = (command: string) => void;

export class ExecaRunner implements ProcessRunner {
  constructor(
    private readonly onCommand?: CommandListener,
    /** Aborts every running command (SIGINT). */
    private readonly signal?: AbortSignal,
  ) {}

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const { execa } = await import('execa');
    const command = formatCommand(file, args);
    this.onCommand?.(command);
    const result = await execa(file, args, {
      input: options.input ?? '',
      env: options.env,
      extendEnv: true,
      timeout: options.timeoutMs,
      cancelSignal: options.signal ?? this.signal,
      reject: false,
      stripFinalNewline: false,
      // never let execa build messages with our argv; we format our own, redacted
      all: false,
    });
    const stdout = String(result.stdout ?? '');
    const stderr = String(result.stderr ?? '');
    if (result.isCanceled) throw new InterruptedError();
    if (result.failed && (result as { code?: string }).code === 'ENOENT') {
      throw new PreflightError(`${file}: command not found`, {
        hint: `install ${file} and make sure it is on PATH (or set its path in config.env)`,
      });
    }
    if (result.timedOut) {
      throw new ExternalError(`${command} timed out after ${options.timeoutMs} ms`, { command });
    }
    const exitCode = typeof result.exitCode === 'number' ? result.exitCode : 1;
    if (exitCode !== 0 && !options.allowFailure) throw commandFailed(file, args, { stdout, stderr, exitCode });
    return { stdout, stderr, exitCode };
  }
}

/** The error of a command that exited non-zero: its command line and last lines of output, redacted. */
export function commandFailed(file: string, args: readonly string[], res: RunResult, note = ''): ExternalError {
  const command = formatCommand(file, args);
  return new ExternalError(`${command} failed (exit ${res.exitCode}): ${lastLines(redact(res.stderr || res.stdout))}${note}`, {
    command,
    stderr: redact(res.stderr),
    exitCode: res.exitCode,
  });
}

function lastLines(text: string, n = 5): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return lines.slice(-n).join('\n') || '(no output)';
}
