// Bounded retries of Kubernetes API calls, and which errors are worth retrying: a server
// restarting or unreachable, throttling, 5xx. Knows nothing of client-node's API classes.
import { InterruptedError } from '../errors.js';

export interface RetryPolicies {
  /** every API call of a run */
  api?: RetryPolicy;
  /** serverVersion(), the first contact */
  preflight?: RetryPolicy;
  /** releasing the run lock on exit */
  release?: RetryPolicy;
}

/** HTTP status of a client-node error (ApiException.code); undefined for network errors. */
export function statusOf(e: unknown): number | undefined {
  if (e instanceof RetriesExhausted) return statusOf(e.cause);
  const err = e as { code?: unknown; statusCode?: unknown };
  if (typeof err?.code === 'number') return err.code;
  if (typeof err?.statusCode === 'number') return err.statusCode;
  return undefined;
}

/**
 * The errno of a failed connection. client-node 1.x (node-fetch) throws a FetchError with
 * `code` and `errno` = 'ECONNREFUSED' (a string, unlike ApiException's numeric `code`);
 * undici-style errors carry it in `cause.code`.
 */
export function errnoOf(e: unknown): string | undefined {
  const err = e as { code?: unknown; errno?: unknown; cause?: { code?: unknown } };
  for (const c of [err?.code, err?.errno, err?.cause?.code]) if (typeof c === 'string' && /^E[A-Z_]+$/.test(c)) return c;
  return undefined;
}

/** Errors of the connection itself: the API server is down, restarting or unreachable. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
/** HTTP answers worth another try: throttling and a server that is starting or overloaded. */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);

export function isConnectionError(e: unknown): boolean {
  const errno = errnoOf(e instanceof RetriesExhausted ? e.cause : e);
  return errno !== undefined && CONNECTION_ERRORS.has(errno);
}

export function isTransient(e: unknown): boolean {
  const code = statusOf(e);
  return (code !== undefined && TRANSIENT_STATUS.has(code)) || isConnectionError(e);
}

/** How long a failing API call is retried: delays from firstDelayMs doubling to maxDelayMs. */
export interface RetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** No attempt starts later than this after the first one (bounds the whole call). */
  budgetMs: number;
}

/**
 * Every API call: ~20 s, long enough to ride out an API server restart (a few seconds),
 * then a clear failure. 200 ms doubling to 3 s: 10 attempts when each fails at once.
 */
export const API_RETRY: RetryPolicy = { firstDelayMs: 200, maxDelayMs: 3000, budgetMs: 20_000 };
/** The first contact (preflight): a cluster that is not there at all fails fast. */
export const PREFLIGHT_RETRY: RetryPolicy = { firstDelayMs: 200, maxDelayMs: 800, budgetMs: 2_000 };
/** Releasing the run lock on exit; a lock left behind expires (or is taken over, see acquireLease). */
export const RELEASE_RETRY: RetryPolicy = { firstDelayMs: 200, maxDelayMs: 1000, budgetMs: 3_000 };

/** The retries ran out on a transient error; `cause` is the last error. */
export class RetriesExhausted extends Error {
  constructor(
    readonly what: string,
    readonly attempts: number,
    readonly elapsedMs: number,
    override readonly cause: unknown,
  ) {
    super(`${what}: ${describe(cause)} (gave up after ${attempts} attempts in ${(elapsedMs / 1000).toFixed(1)}s)`);
    this.name = 'RetriesExhausted';
  }
}

export interface RetryClock {
  now(): number;
  /** Resolves after ms, or rejects with InterruptedError as soon as signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
export const realClock: RetryClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new InterruptedError());
      const onAbort = () => {
        clearTimeout(timer);
        reject(new InterruptedError());
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export interface RetryHooks {
  /**
   * Ctrl-C: a call that was under way when it fired stops waiting for its next attempt
   * (InterruptedError) instead of sitting out the rest of its budget. A call started after
   * it (restoring a Secret, releasing the run lock) is clean-up and keeps its retries.
   */
  signal?: AbortSignal;
  onRetry?: (what: string, attempt: number, delayMs: number, reason: string) => void;
}

/**
 * Bounded retries with backoff on transient API errors (server restarting, throttling).
 * A non-transient error (404, 409, 403, a validation error) is thrown at once, unchanged;
 * when the budget runs out on a transient one, RetriesExhausted carries the last error.
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  policy: RetryPolicy = API_RETRY,
  clock: RetryClock = realClock,
  hooks: RetryHooks = {},
): Promise<T> {
  const start = clock.now();
  const signal = hooks.signal && !hooks.signal.aborted ? hooks.signal : undefined;
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e)) throw e;
      const elapsed = clock.now() - start;
      if (elapsed + delay > policy.budgetMs) throw new RetriesExhausted(what, attempt, elapsed, e);
      hooks.onRetry?.(what, attempt, delay, describe(e));
      await clock.sleep(delay, signal);
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}

/** One line saying why an API call failed (the API server's message, or the connection error). */
export function describe(e: unknown): string {
  if (e instanceof RetriesExhausted) return describe(e.cause);
  const err = e as { body?: unknown; message?: string };
  if (typeof err?.body === 'string') {
    try {
      const parsed = JSON.parse(err.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      /* not JSON */
    }
  }
  const message = (err?.message ?? String(e)).split('\n')[0]!;
  // node-fetch: "request to https://…/api/v1/… failed, reason: connect ECONNREFUSED 127.0.0.1:6443"
  return isConnectionError(e) ? (/, reason: (.+)$/.exec(message)?.[1] ?? message) : message;
}
