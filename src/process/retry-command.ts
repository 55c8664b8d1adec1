// Read-only helm and kubectl commands retried on a transient failure of the API server they
// talk to, with the budget of every client-node call (kube/retry.ts): a restart, throttling or
// a 5xx is ridden out instead of failing the run. Only for commands that are safe to repeat
// (reads); a write such as `helm upgrade` is never run twice by this.
import { API_RETRY, RetriesExhausted, realClock, withRetry, type RetryClock, type RetryHooks, type RetryPolicy } from '../kube/retry.js';
import { commandFailed, type ProcessRunner, type RunOptions, type RunResult } from './runner.js';

export interface CommandRetry extends RetryHooks {
  policy?: RetryPolicy;
  clock?: RetryClock;
}

/**
 * What a failed command's output says about the API server, as the errno or HTTP status
 * kube/retry.ts classifies as transient; undefined when the failure is not transient.
 */
export function transientCause(output: string): string | number | undefined {
  const rules: [RegExp, string | number][] = [
    [/connect: connection refused|connection refused/i, 'ECONNREFUSED'],
    [/connection reset by peer|http2: client connection lost|unexpected EOF|: EOF$/im, 'ECONNRESET'],
    [/i\/o timeout|TLS handshake timeout/i, 'ETIMEDOUT'],
    [/\(TooManyRequests\)|too many requests/i, 429],
    [/\(ServiceUnavailable\)|the server is currently unable to handle the request/i, 503],
    [/\(InternalError\)|Internal error occurred|an error on the server .* has prevented the request from succeeding/i, 500],
    [/Bad Gateway|status code 502/i, 502],
    [/Gateway Timeout|status code 504/i, 504],
  ];
  return rules.find(([re]) => re.test(output))?.[1];
}

/** A transient failure, shaped so kube/retry.ts's isTransient knows it (errno `code` or HTTP `statusCode`). */
class TransientCommandFailure extends Error {
  readonly code?: string;
  readonly statusCode?: number;
  constructor(
    message: string,
    cause: string | number,
    readonly result: RunResult,
  ) {
    super(message);
    if (typeof cause === 'number') this.statusCode = cause;
    else this.code = cause;
  }
}

/**
 * Runs a read-only command, again while it fails transiently, within the policy's budget.
 * Then behaves like runner.run: the last result, or (without allowFailure) the error of a
 * failed command, saying how often it was tried.
 */
export async function runRetried(
  runner: ProcessRunner,
  file: string,
  args: readonly string[],
  options: RunOptions = {},
  retry: CommandRetry = {},
): Promise<RunResult> {
  const what = [file.split('/').at(-1), ...args.filter((a) => !a.startsWith('-')).slice(0, 2)].join(' ');
  let res: RunResult;
  let note = '';
  try {
    res = await withRetry(
      what,
      async () => {
        const r = await runner.run(file, args, { ...options, allowFailure: true });
        const cause = r.exitCode === 0 ? undefined : transientCause(`${r.stderr}\n${r.stdout}`);
        if (cause !== undefined) throw new TransientCommandFailure(r.stderr.trim().split('\n').at(-1) ?? '', cause, r);
        return r;
      },
      retry.policy ?? API_RETRY,
      retry.clock ?? realClock,
      retry,
    );
  } catch (e) {
    if (!(e instanceof RetriesExhausted) || !(e.cause instanceof TransientCommandFailure)) throw e;
    res = e.cause.result;
    note = `\n  (a transient API failure: tried ${e.attempts} times in ${(e.elapsedMs / 1000).toFixed(1)}s)`;
  }
  if (res.exitCode !== 0 && !options.allowFailure) throw commandFailed(file, args, res, note);
  return res;
}
